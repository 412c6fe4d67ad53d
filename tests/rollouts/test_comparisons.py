"""A/B lift and shadow against production, checked against figures computed by hand, and shadow
runs kept out of production rollups.

Hand computation (z = 1.959964): A = 10 runs, 6 resolved, 2 escalated, $0.01 each, 1 s each;
B = 10 runs, 8 resolved, 1 escalated, $0.02 each, five at 1 s and five at 3 s.
* success: 0.8 − 0.6 = 0.2, SE √(.6·.4/10 + .8·.2/10) = 0.2 → [−0.19199, 0.59199]
* escalation: 0.1 − 0.2 = −0.1, SE √(.2·.8/10 + .1·.9/10) = 0.158114 → [−0.40990, 0.20990]
* cost per success: A 0.10/6 = 0.0166667, residuals 6 × −0.0066667 and 4 × 0.01, Σ² = 0.00066667,
  ÷ 9 ÷ (10 · 0.36) = 2.05761e−5; B 0.20/8 = 0.025, Σ² = 8 × 0.005² + 2 × 0.02² = 0.001, ÷ 9 ÷ 6.4
  = 1.73611e−5; difference 0.0083333, SE √3.79372e−5 = 0.0061593 → [−0.0037388, 0.0204054]
* handle time: 2.0 − 1.0 = 1.0 s, B's variance 10/9, SE √(1.1111/10) = 0.33333 → [0.34668, 1.65332]"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rollouts import selectors, stats
from telemetry import rollups
from telemetry.models import HourlyRollup
from tests.rollouts.conftest import make_runs

pytestmark = pytest.mark.django_db


def _seed(agent, a, b, start, *, b_shadow=False):
    make_runs(agent, a, n=10, ok=6, escalated=2, start=start, latency_ms=1000, cost="0.010000")
    make_runs(
        agent,
        b,
        n=10,
        ok=8,
        escalated=1,
        start=start,
        latency_ms=[1000] * 5 + [3000] * 5,
        cost="0.020000",
        shadow=b_shadow,
    )


def _check_lift(lift):
    assert (lift.a.n, lift.b.n) == (10, 10)
    assert lift.success.value == pytest.approx(0.2)
    assert lift.success.low == pytest.approx(-0.191993, abs=1e-5)
    assert lift.success.high == pytest.approx(0.591993, abs=1e-5)
    assert lift.escalation.value == pytest.approx(-0.1)
    assert lift.escalation.low == pytest.approx(-0.409898, abs=1e-5)
    assert lift.escalation.high == pytest.approx(0.209898, abs=1e-5)
    assert lift.cost_per_success.value == pytest.approx(0.0083333, abs=1e-6)
    assert lift.cost_per_success.low == pytest.approx(-0.0037388, abs=1e-6)
    assert lift.cost_per_success.high == pytest.approx(0.0204054, abs=1e-6)
    assert lift.handle_time_s.value == pytest.approx(1.0)
    assert (lift.handle_time_s.low, lift.handle_time_s.high) == (
        pytest.approx(0.346679, abs=1e-5),
        pytest.approx(1.653321, abs=1e-5),
    )
    assert lift.handle_time_s.excludes_zero and not lift.success.excludes_zero


def test_ab_lift_matches_the_hand_computed_figures(agent, versions):
    _prev, a, b = versions
    now = timezone.now()
    _seed(agent, a, b, now - timedelta(hours=3))
    _check_lift(selectors.version_lift(agent=agent, a=a, b=b, start=now - timedelta(days=1), end=now))


def test_shadow_against_production_per_day_matches_the_hand_computed_figures(agent, versions):
    _prev, stable, candidate = versions
    day_start = (timezone.now() - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    _seed(agent, stable, candidate, day_start, b_shadow=True)
    days = selectors.shadow_vs_production(agent=agent, start=day_start - timedelta(days=1), end=timezone.now())
    assert [d.day for d in days] == [day_start.date()]
    _check_lift(days[0].lift)
    assert days[0].production_mix == {"resolved": 6, "escalated": 2, "failed": 2}
    assert days[0].shadow_mix == {"resolved": 8, "escalated": 1, "failed": 1}
    # Production figures of the version that ran in shadow see none of its shadow runs.
    prod = selectors.version_figures(
        agent=agent, version_id=candidate.pk, start=day_start - timedelta(days=1), end=timezone.now()
    )
    assert prod.sums.n == 0
    assert list(selectors.shadow_versions(agent=agent)) == [candidate]


def test_shadow_runs_stay_out_of_the_production_rollups(agent, versions):
    _prev, stable, candidate = versions
    start = (timezone.now() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    _seed(agent, stable, candidate, start, b_shadow=True)
    rollups.rebuild(start=start - timedelta(hours=1), end=start + timedelta(hours=2))
    assert sum(HourlyRollup.objects.filter(agent=agent).values_list("runs", flat=True)) == 10
    assert not HourlyRollup.objects.filter(version=candidate).exists()


def test_single_estimates_use_the_drift_checks_wilson_interval():
    from evals.drift_stats import wilson_interval

    assert (stats.proportion(6, 10).low, stats.proportion(6, 10).high) == wilson_interval(6, 10)
    assert stats.proportion_diff(1, 0, 1, 1).value is None
    assert stats.cost_per_success(stats.Sums(n=3, successes=0, cost=1.0)).value is None


READ_ROLES = ["board_user", "approver_user", "owner_user", "operator_user", "executive_user", "auditor_user"]


@pytest.mark.parametrize("role", READ_ROLES)
def test_every_role_reads_the_rollout_pages(client, request, agent, versions, role):
    _prev, a, b = versions
    now = timezone.now()
    _seed(agent, a, b, now - timedelta(hours=3))
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("rollouts:index")).status_code == 200
    page = client.get(reverse("rollouts:agent", args=[agent.slug]))
    assert page.status_code == 200
    lift = client.get(reverse("rollouts:lift", args=[agent.slug]), {"a": "1.0", "b": "1.1", "days": 7})
    assert lift.status_code == 200
    html = lift.content.decode()
    assert "+20.0 pts [-19.2, +59.2]" in html and "n=10" in html
    assert "1.00 s [0.35, 1.65]" in html
    assert client.get(agent.get_absolute_url()).status_code == 200


def test_a_user_in_no_role_sees_no_rollout_page_of_the_agent(client, agent, versions, outsider_user):
    client.force_login(outsider_user)
    assert client.get(reverse("rollouts:agent", args=[agent.slug])).status_code == 404
    assert client.get(reverse("rollouts:lift", args=[agent.slug])).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"a": "1.0", "b": "1.0", "days": 7},
        {"a": "9.9", "b": "1.0", "days": 7},
        {"a": "1.0", "b": "1.1", "days": 0},
        {"a": "1.0", "b": "1.1", "days": "x"},
        {"a": "1.0", "b": "1.1", "days": 100000},
        {"a": "1.0"},
    ],
)
def test_bad_lift_input_gets_a_clear_error_not_a_5xx(client, agent, versions, owner_user, query):
    client.force_login(owner_user)
    response = client.get(reverse("rollouts:lift", args=[agent.slug]), query)
    assert response.status_code == 200
    assert 'data-testid="lift-errors"' in response.content.decode()


@pytest.mark.parametrize("days", ["0", "x", "-3", "99999"])
def test_a_bad_shadow_window_falls_back_with_a_message(client, agent, versions, owner_user, days):
    client.force_login(owner_user)
    response = client.get(reverse("rollouts:agent", args=[agent.slug]), {"days": days})
    assert response.status_code == 200
    assert "Showing 14 days." in response.content.decode()


def test_reports_link_to_the_rollouts_and_the_lift(client, agent, versions, executive_user):
    client.force_login(executive_user)
    portfolio = client.get(reverse("reports:portfolio")).content.decode()
    assert f'href="{reverse("rollouts:index")}"' in portfolio
    roi = client.get(reverse("reports:agent_roi", args=[agent.slug])).content.decode()
    assert f'href="{reverse("rollouts:lift", args=[agent.slug])}"' in roi
