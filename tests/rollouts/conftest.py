"""Rollouts fixtures: an agent with 1.0 deployed (1.0-prev superseded before it), 1.1 approved,
two approvers, runs made straight in the table (fast, exact figures), the engine's gates off."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from registry import roles
from registry.choices import VersionState
from telemetry.models import Run
from tests.factories import AgentVersionFactory, UserFactory

_ids = count()


@pytest.fixture(autouse=True)
def _no_foreign_gates():
    """The eval and postmortem gates are tested in their apps; here a plan applies on two approvals."""
    from approvals.extensions import apply_gates, request_created_hooks

    with apply_gates.override(), request_created_hooks.override():
        yield


@pytest.fixture
def versions(agent):
    """(previous, stable, canary): 0.9 superseded (deployed before), 1.0 deployed, 1.1 approved."""
    now = timezone.now()
    made = []
    for label, state, deployed_days in (
        ("0.9", VersionState.SUPERSEDED, 30),
        ("1.0", VersionState.DEPLOYED, 10),
        ("1.1", VersionState.APPROVED, None),
    ):
        version = AgentVersionFactory(agent=agent, label=label)
        version.refresh_bundle_digest()
        version.state = state
        version.approved_at = now - timedelta(days=40)
        version.deployed_at = now - timedelta(days=deployed_days) if deployed_days else None
        version.save()
        made.append(version)
    return tuple(made)


@pytest.fixture
def approvers(db):
    people = []
    for name in ("alice", "bob"):
        user = UserFactory(username=name, roles=[roles.APPROVER])
        assign_perm("registry.approve_agent", user)
        people.append(user)
    return people


def make_runs(agent, version, *, n, ok, start, latency_ms=1000, cost="0.010000", shadow=False, escalated=0, **extra):
    """``n`` runs of ``version`` started one second apart from ``start``: ``ok`` resolved, then
    ``escalated`` escalated, the rest failed."""
    rows = []
    for i in range(n):
        outcome = "resolved" if i < ok else ("escalated" if i < ok + escalated else "failed")
        started = start + timedelta(seconds=i)
        rows.append(
            Run(
                agent=agent,
                version=version,
                run_id=f"r-{next(_ids)}",
                version_label=version.label if version else "",
                started_at=started,
                ended_at=started + timedelta(milliseconds=latency_ms if isinstance(latency_ms, int) else 0),
                latency_ms=latency_ms if isinstance(latency_ms, int) else latency_ms[i],
                outcome=outcome,
                reason="" if outcome == "resolved" else "other",
                cost_usd=Decimal(cost if isinstance(cost, str) else cost[i]),
                shadow=shadow,
                **extra,
            )
        )
    Run.objects.bulk_create(rows)
