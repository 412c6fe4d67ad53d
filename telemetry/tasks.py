"""Telemetry tasks: thin wrappers that call a service. The rollup pass's beat schedule is in the
database (``reports/migrations/0003_beat_schedules``, renamed by ``0005_rollup_task_name`` here)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import otlp, services


@shared_task(name="telemetry.rollup_refresh", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rollup_refresh_task() -> int:
    return services.rollup_refresh()


@shared_task(name="telemetry.spans_maintain", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def spans_maintain_task() -> dict:
    return otlp.spans_maintain()
