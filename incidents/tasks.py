"""Incident background work: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(name="incidents.tasks.send_overdue_reminders", ignore_result=True)
def send_overdue_reminders() -> int:
    """Hourly (beat); idempotent: at most one e-mail per person per day."""
    return services.overdue_reminders_send()
