"""Thin Celery tasks of the action gate: load by id, call a service. Safe to run twice."""

from __future__ import annotations

import logging

import httpx
from celery import shared_task

from approvals.services import requests_expire

from . import services

log = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(httpx.TransportError, services.WebhookRetryable),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def deliver_action_webhook(*, action_request_id: str) -> str:
    """POST a decided action request to its agent's webhook (signed); retried with backoff on
    connection errors and 5xx/408/429 answers."""
    return services.webhook_deliver(action_request_id=action_request_id)


@shared_task
def expire_pending_actions() -> int:
    """Runtime actions wait minutes, not days: close overdue approval requests every minute
    (the engine's own expiry, which is idempotent and skips rows another worker holds)."""
    return requests_expire()


@shared_task
def purge_action_parameters() -> int:
    count = services.parameters_purge_expired()
    if count:
        log.info("actions: purged the parameters of %d request(s) past retention", count)
    return count
