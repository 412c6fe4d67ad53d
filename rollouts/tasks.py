"""Beat tasks of rollouts: take ids or nothing, call a service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="rollouts.tasks.rollout_plans_tick")
def rollout_plans_tick() -> int:
    """Every active rollout plan: evaluate its stage's gates, then advance, stop or wait."""
    return len(services.plans_tick_all())
