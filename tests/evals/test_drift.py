"""Drift checks on synthetic telemetry: detection, noise, evidence, incidents, rollback."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from evals import services
from evals.choices import DriftAction, DriftMetric
from evals.drift_stats import chi2_sf, chi_square_homogeneity, percentile, two_proportion_z
from evals.models import DriftAlert
from evals.selectors import OUTCOMES, WindowStats, telemetry_window
from registry.services import agent_controls_update
from telemetry.models import Run
from tests.factories import AgentVersionFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def make_runs(agent, start, minutes, count, rng, *, resolved=0.85, escalated=0.10, error=0.02, tag="b"):
    """``count`` runs spread over ``minutes`` from ``start``: outcomes drawn with the given
    rates (the rest failed/abandoned), noisy cost and latency."""
    runs = build_runs(agent, start, minutes, count, rng, resolved=resolved, escalated=escalated, error=error, tag=tag)
    Run.objects.bulk_create(runs, batch_size=2000)
    return runs


def build_runs(agent, start, minutes, count, rng, *, resolved=0.85, escalated=0.10, error=0.02, tag="b"):
    """The runs of :func:`make_runs`, unsaved."""
    runs = []
    for i in range(count):
        started = start + timedelta(seconds=rng.uniform(0, minutes * 60 - 1))
        u = rng.random()
        if u < resolved:
            outcome = "resolved"
        elif u < resolved + escalated:
            outcome = "escalated"
        else:
            outcome = rng.choice(["failed", "abandoned", "blocked"])
        latency = int(rng.lognormvariate(7, 0.35))
        runs.append(
            Run(
                agent=agent,
                run_id=f"{tag}-{i}-{rng.random()}",
                started_at=started,
                ended_at=started + timedelta(milliseconds=latency),
                latency_ms=latency,
                status="error" if rng.random() < error else "ok",
                outcome=outcome,
                cost_usd=Decimal(str(round(max(rng.gauss(0.02, 0.006), 0.001), 6))),
            )
        )
    return runs


@pytest.fixture
def baseline(agent):
    rng = random.Random(7)
    agent.success_threshold_pct = Decimal("80")
    agent.save()
    span = 24 * 60
    make_runs(agent, NOW - timedelta(minutes=30 + span), span, 4800, rng)
    return agent


def test_statistics_match_known_values():
    # 45/100 vs 60/100: pooled .525, se = sqrt(.525 * .475 * .02) = .07062, so z = .15 / .07062 = 2.1240.
    # chi-square 3.841 with 1 dof (11.07 with 5) is the 5 % point.
    z, p = two_proportion_z(45, 100, 60, 100)
    assert z == pytest.approx(2.1240, abs=1e-3) and p == pytest.approx(0.01684, abs=2e-4)
    assert chi2_sf(3.841, 1) == pytest.approx(0.05, abs=1e-3)
    assert chi2_sf(11.07, 5) == pytest.approx(0.05, abs=1e-3)
    stat, dof, p = chi_square_homogeneity([50, 30, 20], [50, 30, 20])
    assert stat == 0 and dof == 2 and p == pytest.approx(1.0)
    assert percentile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)


def test_it_detects_an_injected_15_point_containment_drop_in_one_check(baseline):
    make_runs(baseline, NOW - timedelta(minutes=30), 30, 300, random.Random(11), resolved=0.70, escalated=0.25)
    alerts = services.drift_check_agent(agent_id=baseline.pk, now=NOW)
    containment = [a for a in alerts if a.metric == DriftMetric.CONTAINMENT]
    assert len(containment) == 1
    alert = containment[0]
    evidence = alert.evidence
    assert evidence["windows"]["recent"]["runs"] == 300 and evidence["windows"]["baseline"]["runs"] == 4800
    assert evidence["change_points"] > 10 and evidence["statistic"]["p_value"] < 0.001
    assert Decimal(evidence["threshold"]["points"]) == 10 and Decimal(evidence["threshold"]["significance"]) == Decimal(
        "0.001"
    )
    assert alert.statistic == "two-proportion z" and alert.statistic_value < 0
    assert alert.incident_id is not None
    from incidents.models import Incident

    incident = Incident.objects.get(pk=alert.incident_id)
    assert incident.severity == "sev2" and incident.detection_source == "drift_check"


def test_a_second_check_adds_to_the_open_alert_instead_of_paging_again(baseline):
    make_runs(baseline, NOW - timedelta(minutes=30), 30, 300, random.Random(11), resolved=0.70, escalated=0.25)
    first = services.drift_check_agent(agent_id=baseline.pk, now=NOW)
    again = services.drift_check_agent(agent_id=baseline.pk, now=NOW + timedelta(seconds=1))
    assert first and again == []
    alert = DriftAlert.objects.get(agent=baseline, metric=DriftMetric.CONTAINMENT)
    assert alert.occurrences == 2


def window_of(runs, start, end, *, with_latency=True) -> WindowStats:
    """What ``telemetry_window`` computes in the database, computed in Python from unsaved runs."""
    inside = [r for r in runs if start <= r.started_at < end]
    outcomes = {o: sum(1 for r in inside if r.outcome == o) for o in OUTCOMES}
    errors = sum(1 for r in inside if r.status in ("error", "timeout") or r.outcome == "failed")
    p95 = percentile([r.latency_ms for r in inside], 0.95) if with_latency and inside else None
    return WindowStats(
        start=start,
        end=end,
        runs=len(inside),
        outcomes=outcomes,
        errors=errors,
        cost_total_usd=sum((r.cost_usd for r in inside), Decimal("0")),
        latency_p95_ms=p95,
    )


def evaluate_in_memory(agent, policy, runs, baselines) -> list[str]:
    """The drift check's decision on a recent window held in memory; the breached metrics."""
    recent_start = NOW - timedelta(minutes=policy.containment_window_minutes)
    error_start = NOW - timedelta(minutes=policy.error_window_minutes)
    verdict = services.drift_evaluate(
        policy=policy,
        success_threshold_pct=agent.success_threshold_pct,
        baseline=baselines["baseline"],
        recent=window_of(runs, recent_start, NOW),
        error_baseline=baselines["error_baseline"],
        error_recent=window_of(runs, error_start, NOW, with_latency=False),
    )
    return sorted(b.metric for b in verdict.breaches)


def stored_baselines(agent, policy) -> dict:
    recent_start = NOW - timedelta(minutes=policy.containment_window_minutes)
    error_start = NOW - timedelta(minutes=policy.error_window_minutes)
    span = timedelta(hours=policy.baseline_hours)
    return {
        "baseline": telemetry_window(agent_id=agent.pk, start=recent_start - span, end=recent_start),
        "error_baseline": telemetry_window(
            agent_id=agent.pk, start=error_start - span, end=error_start, with_latency=False
        ),
    }


def test_the_in_memory_decision_matches_the_database_check_window_by_window(baseline):
    """GIVEN stable noisy windows (and one with a real drop), each stored and checked end to end
    THEN the windows computed in memory equal the database's, and so do the decisions; this is
    what lets the 200-window noise test below evaluate the same decision without the inserts."""
    policy = services.driftpolicy_for(baseline)
    baselines = stored_baselines(baseline, policy)
    rng = random.Random(99)
    windows = [dict(resolved=0.85, escalated=0.10)] * 5 + [dict(resolved=0.70, escalated=0.25)]
    decisions = []
    for n, rates in enumerate(windows):
        runs = make_runs(baseline, NOW - timedelta(minutes=30), 30, rng.randint(150, 250), rng, tag=f"m{n}", **rates)
        recent_start = NOW - timedelta(minutes=30)
        stored = telemetry_window(agent_id=baseline.pk, start=recent_start, end=NOW)
        in_memory = window_of(runs, recent_start, NOW)
        assert (in_memory.runs, in_memory.outcomes, in_memory.errors, in_memory.cost_total_usd) == (
            stored.runs,
            stored.outcomes,
            stored.errors,
            stored.cost_total_usd,
        )
        assert in_memory.latency_p95_ms == pytest.approx(stored.latency_p95_ms)
        expected = evaluate_in_memory(baseline, policy, runs, baselines)
        alerts = services.drift_check_agent(agent_id=baseline.pk, now=NOW)
        assert sorted(a.metric for a in alerts) == expected
        decisions.append(expected)
        window_runs = Run.objects.filter(agent=baseline, run_id__startswith=f"m{n}-")
        window_runs._raw_delete(window_runs.db)
        DriftAlert.objects.all().delete()
    assert decisions[:5] == [[]] * 5 and DriftMetric.CONTAINMENT in decisions[5]


def test_at_most_two_false_alerts_over_200_stable_noisy_windows(baseline):
    """GIVEN a stable agent (same true rates, cost and latency), its stored 24-hour baseline and a seeded RNG
    WHEN 200 independent 30-minute windows of noisy telemetry are each checked
    THEN at most 2 checks raise any alert.

    The windows go through the drift check's decision function in memory (shown equal to the
    database path above); inserting and deleting 40,000 runs would prove nothing more."""
    policy = services.driftpolicy_for(baseline)
    baselines = stored_baselines(baseline, policy)
    rng = random.Random(2024)
    false_alarms = 0
    for window in range(200):
        runs = build_runs(baseline, NOW - timedelta(minutes=30), 30, rng.randint(150, 250), rng, tag=f"w{window}")
        if evaluate_in_memory(baseline, policy, runs, baselines):
            false_alarms += 1
    assert false_alarms <= 2


def test_the_noise_test_would_catch_a_trigger_happy_check(baseline):
    """The same 200 windows under a careless policy (5 % significance, 2-point threshold) raise
    many alerts: the noise test can fail."""
    policy = services.driftpolicy_for(baseline)
    policy.significance = Decimal("0.05")
    policy.containment_drop_points = policy.error_rise_points = policy.escalation_rise_points = Decimal("2")
    policy.cost_rise_pct = policy.latency_rise_pct = Decimal("5")
    baselines = stored_baselines(baseline, policy)
    rng = random.Random(2024)
    alarms = sum(
        bool(
            evaluate_in_memory(
                baseline, policy, build_runs(baseline, NOW - timedelta(minutes=30), 30, 200, rng), baselines
            )
        )
        for _ in range(200)
    )
    assert alarms > 2


def test_it_does_not_test_windows_below_the_minimum_sample(baseline):
    make_runs(baseline, NOW - timedelta(minutes=30), 30, 20, random.Random(3), resolved=0.2, escalated=0.7)
    assert services.drift_check_agent(agent_id=baseline.pk, now=NOW) == []


def test_a_breach_on_an_agent_set_to_roll_back_sets_the_canary_to_0_and_controls_show_it(baseline, agent_client):
    canary = AgentVersionFactory(agent=baseline, label="2.1-canary")
    agent_controls_update(agent_id=baseline.pk, canary_version=canary, canary_share_pct=Decimal("20"))
    policy = services.driftpolicy_for(baseline)
    policy.action = DriftAction.CANARY_ROLLBACK
    policy.save()
    before = agent_client.get("/api/v1/controls/")
    assert before.status_code == 200 and Decimal(before.json()["canary_share_pct"]) == Decimal("20")

    make_runs(baseline, NOW - timedelta(minutes=30), 30, 300, random.Random(11), resolved=0.70, escalated=0.25)
    alerts = services.drift_check_agent(agent_id=baseline.pk, now=NOW)

    assert alerts and all(a.action_taken == DriftAction.CANARY_ROLLBACK for a in alerts)
    baseline.refresh_from_db()
    assert baseline.canary_share_pct == Decimal("0")
    after = agent_client.get("/api/v1/controls/", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and Decimal(after.json()["canary_share_pct"]) == Decimal("0")


def test_a_breach_on_an_agent_set_to_kill_pulls_the_kill_switch(baseline):
    policy = services.driftpolicy_for(baseline)
    policy.action = DriftAction.KILL_SWITCH
    policy.save()
    make_runs(baseline, NOW - timedelta(minutes=30), 30, 300, random.Random(11), resolved=0.70, escalated=0.25)
    services.drift_check_agent(agent_id=baseline.pk, now=NOW)
    baseline.refresh_from_db()
    assert baseline.side_effects_enabled is False


def test_an_error_rate_rise_over_ten_minutes_is_detected(baseline):
    make_runs(baseline, NOW - timedelta(minutes=10), 10, 150, random.Random(5), error=0.15, tag="e")
    alerts = services.drift_check_agent(agent_id=baseline.pk, now=NOW)
    error = [a for a in alerts if a.metric == DriftMetric.ERROR_RATE]
    assert len(error) == 1 and error[0].evidence["windows"]["recent"]["runs"] == 150
