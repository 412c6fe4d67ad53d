"""The portfolio's one-scan read (per agent and per day in one GROUPING SETS query) says
exactly what the per-agent and per-day ORM reads say, for whoever is asking, and its query
count does not grow with the number of agents."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from registry.models import Agent
from reports import selectors, services
from telemetry.models import Run
from tests.factories import AgentFactory, UserFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)
OUTCOMES = ["resolved"] * 6 + ["escalated", "failed", "blocked", "abandoned"]


def _random_runs(agents, *, seed: int, n: int) -> None:
    rng = random.Random(seed)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    # A few dozen distinct hours keep the rollup refresh (per touched hour) quick.
    hours = rng.sample(range(24 * 180), 40)
    runs = []
    for _ in range(n):
        outcome = rng.choice(OUTCOMES)
        run = make_run(
            rng.choice(agents),
            started_at=first + timedelta(hours=rng.choice(hours), minutes=rng.randrange(60)),
            outcome=outcome,
            status="error" if outcome == "failed" else "ok",
            latency_ms=rng.randrange(50, 20_000),
            cost_usd=Decimal(rng.randrange(0, 500)) / 1000,
            human_minutes=Decimal(rng.randrange(0, 30)) / 4 if outcome == "escalated" else "0",
            input_tokens=rng.randrange(10_000),
            output_tokens=rng.randrange(2_000),
            tool_calls=rng.randrange(5),
            policy_blocks=1 if outcome == "blocked" else 0,
            save=False,
        )
        runs.append(run)
    Run.objects.bulk_create(runs)
    services.rollup_refresh()


@pytest.fixture
def mixed_agents():
    """Four agents with different prices: one went live inside the periods, one is retired (it
    still counts in a period where it ran), one is a pilot."""
    agents = [
        AgentFactory(
            status=status,
            deployed_at=deployed,
            human_cost_per_minute_usd=Decimal(price),
            human_minutes_per_unit=Decimal(minutes),
            monthly_infra_cost_usd=Decimal(infra),
            monthly_ops_cost_usd=Decimal("40"),
        )
        for status, deployed, price, minutes, infra in [
            ("production", datetime(2025, 11, 1, tzinfo=UTC), "0.80", "12", "100"),
            ("production", datetime(2026, 5, 20, tzinfo=UTC), "1.25", "7.5", "60"),
            ("retired", datetime(2025, 6, 1, tzinfo=UTC), "0.40", "20", "10"),
            ("pilot", None, "0.95", "3", "0"),
        ]
    ]
    _random_runs(agents, seed=20260601, n=200)
    return agents


def _metrics(m: selectors.Metrics) -> dict:
    return {f: getattr(m, f) for f in selectors.SUM_FIELDS}


@pytest.mark.parametrize("days", [7, 45, 180])
def test_portfolio_sums_equal_the_per_agent_and_per_day_orm_reads(mixed_agents, board_user, days):
    end = TODAY + timedelta(days=1)
    start = end - timedelta(days=days)
    p = selectors.portfolio(user=board_user, start=start, end=end)

    assert p.rois, "the fixture has runs in every period"
    for roi in p.rois:
        direct = selectors.agent_metrics(agent=roi.agent, start=start, end=end, with_latency=False)
        assert _metrics(roi.metrics) == _metrics(direct), roi.agent.slug
    grain = "week" if days <= 120 else "month"
    assert p.trend_grain == grain
    via_orm = selectors.portfolio_trend(agents=p.agents, start=start, end=end, grain=grain)
    assert len(p.trend) == len(via_orm)
    for ours, theirs in zip(p.trend, via_orm, strict=True):
        assert _metrics(ours["metrics"]) == _metrics(theirs["metrics"])
        for key in ("start", "end", "value", "fixed", "cost", "savings"):
            assert ours[key] == theirs[key], (key, ours["start"])
    assert p.totals.metrics.runs == sum(b["metrics"].runs for b in p.trend)


def test_portfolio_sums_only_the_agents_the_user_may_see(mixed_agents):
    """A user without the global view permission sees only the agents granted to them."""
    user = UserFactory(username="one-agent-viewer")
    seen = mixed_agents[0]
    assign_perm("registry.view_agent", user, seen)
    end = TODAY + timedelta(days=1)
    start = end - timedelta(days=180)

    p = selectors.portfolio(user=user, start=start, end=end)

    assert [r.agent for r in p.rois] == [seen]
    direct = selectors.agent_metrics(agent=seen, start=start, end=end, with_latency=False)
    assert _metrics(p.totals.metrics) == _metrics(direct)
    assert sum(b["metrics"].runs for b in p.trend) == direct.runs


def test_budget_burns_from_a_loaded_list_equal_those_from_a_queryset(mixed_agents):
    for a in mixed_agents:
        a.monthly_budget_usd = Decimal("25")
        a.save()
    mixed_agents[1].monthly_budget_usd = Decimal("0")  # no budget: no burn line
    mixed_agents[1].save()
    now = datetime(2026, 6, 20, 12, tzinfo=UTC)

    from_qs = selectors.budget_burns(now=now, agents=Agent.objects.all())
    from_list = selectors.budget_burns(now=now, agents=list(Agent.objects.all()))

    def lines(burns):
        return [(b.agent.pk, b.month_to_date_usd, b.projected_usd, b.over_budget) for b in burns]

    assert lines(from_list) == lines(from_qs)
    assert {b.agent.pk for b in from_list} == {mixed_agents[0].pk, mixed_agents[3].pk}


def test_the_portfolio_page_query_count_does_not_grow_with_the_agents(client, executive_user):
    def queries_for_page() -> int:
        client.force_login(executive_user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("reports:portfolio"), {"days": 30})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    few = [AgentFactory(status="production", deployed_at=datetime(2026, 1, 1, tzinfo=UTC)) for _ in range(2)]
    _random_runs(few, seed=1, n=30)
    with_two = queries_for_page()
    more = [AgentFactory(status="production", deployed_at=datetime(2026, 1, 1, tzinfo=UTC)) for _ in range(8)]
    _random_runs(more, seed=2, n=60)
    assert queries_for_page() == with_two
