"""The set-based drift cycle (``drift_check_fleet``): the same windows and verdicts as the
per-agent check, a query count that does not grow with the fleet, and a breach still acted on
exactly once."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evals import services
from evals.choices import DriftAction, DriftMetric
from evals.models import DriftAlert, DriftPolicy
from evals.services.drift import _fleet_agents, drift_evaluate, drift_windows, drift_windows_fleet
from incidents.models import Incident
from registry.models import Agent
from telemetry import services as telemetry_services
from telemetry.models import Run
from tests.evals.test_drift import build_runs
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def seed_fleet(n: int, *, drifting: set[int] = frozenset(), runs: int = 600, seed: int = 5) -> list[Agent]:
    """``n`` production agents with a day of healthy runs; those in ``drifting`` lose 20 points of
    containment in the last 30 minutes."""
    rng = random.Random(seed)
    agents, rows = [], []
    for i in range(n):
        agent = AgentFactory(success_threshold_pct=Decimal("50"))
        agents.append(agent)
        rows += build_runs(agent, NOW - timedelta(minutes=30 + 24 * 60), 24 * 60, runs, rng, tag=f"b{i}")
        recent = {"resolved": 0.60, "escalated": 0.35} if i in drifting else {}
        rows += build_runs(agent, NOW - timedelta(minutes=30), 30, runs // 8, rng, tag=f"r{i}", **recent)
    Run.objects.bulk_create(rows, batch_size=5000)
    return agents


def test_the_set_based_windows_equal_the_per_agent_check_window_by_window(settings):
    """GIVEN seeded agents (one drifting, one with its own windows, late runs after the rollup
    pass) WHEN the fleet's windows are read set-based THEN each agent's four windows, and so its
    verdict, equal the per-agent check's."""
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    agents = seed_fleet(5, drifting={2}, runs=400)
    telemetry_services.rollup_refresh(now=NOW)
    # Late runs: received after the pass, started hours ago (the catch-up must recompute them).
    Run.objects.bulk_create(build_runs(agents[1], NOW - timedelta(hours=5), 60, 40, random.Random(9), tag="late"))
    DriftPolicy.objects.create(
        agent=agents[3], containment_window_minutes=60, error_window_minutes=20, baseline_hours=6
    )
    fleet = _fleet_agents([a.pk for a in agents])
    windows = drift_windows_fleet(agents=fleet, now=NOW)
    assert set(windows) == {a.pk for a in agents}
    for agent in fleet:
        one = drift_windows(agent=agent, policy=agent.drift_policy, now=NOW)
        assert windows[agent.pk] == one, agent.slug
        verdicts = [
            drift_evaluate(policy=agent.drift_policy, success_threshold_pct=agent.success_threshold_pct, **w)
            for w in (windows[agent.pk], one)
        ]
        assert verdicts[0] == verdicts[1]
    assert windows[agents[3].pk]["baseline"].end - windows[agents[3].pk]["baseline"].start == timedelta(hours=6)
    assert windows[agents[1].pk]["baseline"].runs == 400 + 40
    drifting = drift_evaluate(
        policy=fleet[2].drift_policy, success_threshold_pct=fleet[2].success_threshold_pct, **windows[agents[2].pk]
    )
    assert DriftMetric.CONTAINMENT in {b.metric for b in drifting.breaches}


def test_a_cycle_costs_the_same_number_of_queries_for_3_agents_and_for_12(settings):
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    agents = seed_fleet(12, runs=120)
    DriftPolicy.objects.bulk_create([DriftPolicy(agent=a) for a in agents])
    telemetry_services.rollup_refresh()  # every run received before the watermark: none is late
    counts = []
    for ids in ([a.pk for a in agents[:3]], [a.pk for a in agents]):
        with CaptureQueriesContext(connection) as queries:
            assert services.drift_check_fleet(agent_ids=ids, now=NOW) == []
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 6, counts


def test_a_breach_in_the_fleet_cycle_opens_one_incident_and_applies_its_action_once(settings):
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
    agents = seed_fleet(4, drifting={1}, runs=400)
    DriftPolicy.objects.create(agent=agents[1], action=DriftAction.KILL_SWITCH)
    telemetry_services.rollup_refresh(now=NOW)
    first = services.drift_check_fleet(now=NOW)
    again = services.drift_check_fleet(now=NOW + timedelta(seconds=1))
    assert {a.agent_id for a in first} == {agents[1].pk} and again == []
    containment = DriftAlert.objects.get(agent=agents[1], metric=DriftMetric.CONTAINMENT)
    assert containment.occurrences == 2 and containment.action_taken == DriftAction.KILL_SWITCH
    assert Incident.objects.filter(agent=agents[1], detection_source="drift_check").count() == 1
    assert Agent.objects.get(pk=agents[1].pk).side_effects_enabled is False
    assert not DriftAlert.objects.exclude(agent=agents[1]).exists()
