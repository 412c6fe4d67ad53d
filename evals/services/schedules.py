"""Scheduled evals of production agents (beat)."""

from __future__ import annotations

from django.utils import timezone

from registry.models import Agent

from ..choices import RunSource
from ..models import (
    EvalRun,
)
from .runs import evalrun_request


def production_agent_ids(tiers: list[int] | None = None) -> list[int]:
    qs = Agent.objects.filter(status="production")
    if tiers:
        qs = qs.filter(risk_tier__in=tiers)
    return list(qs.values_list("pk", flat=True))


def scheduled_evals_request(*, tiers: list[int], period: str, now=None) -> list[EvalRun]:
    """Queue the scheduled evals of production agents in ``tiers``: the deployed version on the
    latest version of each golden set. The key names the period, so a beat tick delivered
    twice (or a retried task) queues nothing new."""
    now = now or timezone.now()
    stamp = now.strftime("%G-W%V") if period == "week" else now.strftime("%Y-%m-%d")
    created = []
    for agent in Agent.objects.filter(pk__in=production_agent_ids(tiers)).select_related("eval_target"):
        version = agent.deployed_version
        if version is None or not hasattr(agent, "eval_target"):
            continue
        for golden_set in agent.golden_sets.all():
            latest = golden_set.versions.order_by("-number").first()
            if latest is None or not latest.cases.exists():
                continue
            run, was_created = evalrun_request(
                version=version,
                set_version=latest,
                source=RunSource.SCHEDULE,
                idempotency_key=f"schedule:{period}:{stamp}:{version.pk}:{latest.pk}",
            )
            if was_created:
                created.append(run)
    return created
