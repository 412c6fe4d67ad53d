"""Thin Celery tasks: load by id, call a service or send one e-mail. Safe to run twice."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from . import notifications, services

log = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def notify_request_created(*, request_id: int) -> int:
    """E-mail the eligible approvers of a new (or revised) request. Returns recipients count."""
    return notifications.request_created_send(request_id=request_id)


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def notify_request_outcome(*, request_id: int) -> int:
    """E-mail the requester the outcome (approved-but-blocked, applied, denied, expired)."""
    return notifications.request_outcome_send(request_id=request_id)


@shared_task
def expire_requests() -> int:
    count = services.requests_expire()
    if count:
        log.info("approvals: expired %d request(s)", count)
    return count


@shared_task
def retry_blocked_requests() -> int:
    return services.requests_retry_blocked()
