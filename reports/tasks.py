"""Report tasks: thin wrappers that call a service. Schedules are in the database
(data migration ``0003_beat_schedules``), each with an ``expires`` under its period. The review
tasks are registry's (``registry.tasks``), the rollup pass telemetry's (``telemetry.tasks``)."""

from __future__ import annotations

from celery import shared_task
from django.core.exceptions import ObjectDoesNotExist

from . import services


@shared_task(name="reports.budget_check")
def budget_check_task() -> int:
    return len(services.budget_check())


@shared_task(
    name="reports.budget_alert_notify",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def budget_alert_notify(alert_id: int) -> bool:
    try:
        return services.budget_alert_notify(alert_id=alert_id)
    except ObjectDoesNotExist:
        return False
