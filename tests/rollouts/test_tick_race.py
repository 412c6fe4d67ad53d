"""The race the plan-row lock closes: two runs of the beat task (an overlap, a redelivered
message) evaluating the same stage at the same instant, on two connections. One advances; the
other waits for the lock, then sees the new stage (just started) and waits. One step, one audit entry."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from registry.models import Agent, AuditEntry
from rollouts.services import plan_tick
from tests.rollouts.conftest import make_runs
from tests.rollouts.test_plans import _approved_plan

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_ticks_at_once_make_one_step(reseeded, agent, versions, owner_user, approvers):
    _prev, stable, canary = versions
    plan = _approved_plan(agent, owner_user, approvers)
    start = plan.stage_started_at + timedelta(minutes=1)
    make_runs(agent, stable, n=200, ok=180, start=start)
    make_runs(agent, canary, n=60, ok=54, start=start)
    later = plan.stage_started_at + timedelta(hours=25)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def tick():
        try:
            barrier.wait(timeout=30)
            outcomes.append(plan_tick(plan_id=plan.pk, now=later))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(outcomes) == ["advanced to 20 %", "waiting for runs"]
    assert Agent.objects.get(pk=agent.pk).canary_share_pct == Decimal("20.00")
    assert AuditEntry.objects.filter(action="rollout.step").count() == 1
