"""Registry tasks: thin wrappers that call a review service. The beat schedule of
``registry.reviews_open_due`` is in the database (``reports.0003`` created it under the reports
name; ``registry.0004`` renamed it when reviews moved here)."""

from __future__ import annotations

import httpx
from celery import shared_task
from django.core.exceptions import ObjectDoesNotExist

from . import audit_chain, channel_delivery, reviews
from .channel_delivery import MAX_ATTEMPTS, ChannelRetryable


@shared_task(name="registry.reviews_open_due")
def reviews_open_due_task() -> int:
    return len(reviews.reviews_open_due())


@shared_task(
    name="registry.review_notify",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def review_notify(review_id: int) -> bool:
    try:
        return reviews.review_notify(review_id=review_id)
    except ObjectDoesNotExist:
        return False


@shared_task(name="registry.audit_checkpoint")
def audit_checkpoint_task() -> int:
    """Sign the audit chain's head (beat schedule: ``registry`` migration 0010)."""
    return audit_chain.checkpoint_sign().seq


@shared_task(
    name="registry.notification_deliver",
    autoretry_for=(ChannelRetryable, httpx.TransportError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_ATTEMPTS,
)
def notification_deliver(*, notification_id: int) -> str:
    """Send one alert notification to its channel (``registry.channel_delivery``); retried with backoff."""
    return channel_delivery.notification_deliver(notification_id=notification_id)
