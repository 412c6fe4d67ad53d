"""Celery tasks: thin wrappers that load by id and call a service.

Every task is acknowledged late (a worker that dies mid-task gets it redelivered) and is
idempotent: a second delivery finds the run claimed or finished, or the alert already open."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from . import services

logger = logging.getLogger(__name__)

EVAL_SOFT_LIMIT = 30 * 60
DRIFT_SOFT_LIMIT = 4 * 60


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=EVAL_SOFT_LIMIT,
    time_limit=EVAL_SOFT_LIMIT + 60,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def eval_run_execute(self, *, run_id: int) -> str:
    """Execute a queued eval run. A redelivery of this same message restarts a run its
    dead predecessor left running; any other task finds it taken and returns."""
    task_id = self.request.id or f"local-{run_id}"
    try:
        run = services.evalrun_execute(run_id=run_id, task_id=task_id)
    except SoftTimeLimitExceeded:
        services.evalrun_fail(run_id=run_id, task_id=task_id, error="The run exceeded its time limit.")
        return "timeout"
    return "done" if run is not None else "skipped"


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def eval_run_for_version(
    *, version_id: int, set_version_id: int, idempotency_key: str, source: str = "api"
) -> int | None:
    """Queue (at most once per key) an eval run of a version on a golden-set version."""
    from registry.models import AgentVersion

    from .models import GoldenSetVersion

    version = AgentVersion.objects.filter(pk=version_id).select_related("agent").first()
    set_version = GoldenSetVersion.objects.filter(pk=set_version_id).select_related("golden_set").first()
    if version is None or set_version is None:
        return None
    run, _ = services.evalrun_request(
        version=version, set_version=set_version, source=source, idempotency_key=idempotency_key
    )
    return run.pk


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def evals_scheduled(*, tiers: list[int], period: str = "day") -> int:
    """Beat: scheduled evals of production agents (tier 1 daily, tiers 2 and 3 weekly)."""
    return len(services.scheduled_evals_request(tiers=tiers, period=period))


@shared_task(acks_late=True, soft_time_limit=DRIFT_SOFT_LIMIT, time_limit=DRIFT_SOFT_LIMIT + 30)
def drift_check_agent(*, agent_id: int) -> int:
    return len(services.drift_check_agent(agent_id=agent_id))


# Agents per set-based drift task: a constant handful of queries each, so a fleet of N agents
# is N / DRIFT_FLEET_CHUNK tasks that workers share.
DRIFT_FLEET_CHUNK = 1000


@shared_task(acks_late=True, soft_time_limit=DRIFT_SOFT_LIMIT, time_limit=DRIFT_SOFT_LIMIT + 30)
def drift_check_fleet(*, agent_ids: list[int]) -> int:
    """One set-based drift cycle over these agents (idempotent: a redelivery adds occurrences
    to the alerts the first delivery opened; no second incident or action)."""
    return len(services.drift_check_fleet(agent_ids=agent_ids))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def drift_checks_all() -> int:
    """Beat, every 5 minutes: the production agents' drift checks, set-based, in tasks of
    ``DRIFT_FLEET_CHUNK`` agents."""
    ids = sorted(services.production_agent_ids())
    for start in range(0, len(ids), DRIFT_FLEET_CHUNK):
        drift_check_fleet.delay(agent_ids=ids[start : start + DRIFT_FLEET_CHUNK])
    return len(ids)
