"""The monitors' beat task (schedule: ``monitors`` migration 0002). Idempotent: see ``services``."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="monitors.evaluate")
def evaluate() -> dict:
    return services.evaluate_all()
