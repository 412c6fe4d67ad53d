"""Compliance background work: thin wrappers around services."""

from celery import shared_task

from . import serious


@shared_task(name="compliance.tasks.escalate_overdue_serious_reports", ignore_result=True)
def escalate_overdue_serious_reports() -> int:
    """Every 15 minutes (beat): a 2-day clock leaves no room for an hourly miss."""
    return serious.serious_overdue_escalate()
