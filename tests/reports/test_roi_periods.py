"""The agent ROI page's "by reporting period" table and chart (issue 11): they honour the chosen
period, draw nothing before the agent's first run or outside the range, do not show a period
without runs as a loss, and their axis labels never overlap."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from reports import selectors
from reports.charts import Series, chart
from telemetry.models import Run
from telemetry.services import rollup_refresh
from tests.factories import AgentFactory, AgentVersionFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


def _runs_on(agent, version, days_ago: list[int]) -> None:
    today = timezone.localdate()
    Run.objects.bulk_create(
        make_run(
            agent,
            version=version,
            started_at=datetime.combine(today - timedelta(days=d), time(12), tzinfo=UTC),
            cost_usd="0.10",
            save=False,
        )
        for d in days_ago
    )
    rollup_refresh()


@pytest.fixture
def veteran(db):
    """GIVEN an agent live for 300 days whose first run was 150 days ago, with runs every other
    day since, except for a quiet stretch 100 to 60 days ago."""
    agent = AgentFactory(
        deployed_at=timezone.now() - timedelta(days=300),
        human_cost_per_minute_usd=Decimal("1"),
        human_minutes_per_unit=Decimal("5"),
        monthly_infra_cost_usd=Decimal("300"),
    )
    version = AgentVersionFactory(agent=agent)
    _runs_on(agent, version, [d for d in range(150, -1, -2) if not 60 <= d <= 100])
    return agent


def _period_rows(client, agent, days: int) -> list[dict]:
    response = client.get(f"/reports/agents/{agent.slug}/?days={days}&export=periods")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("days", [30, 90, 365])
def test_it_shows_only_the_periods_of_the_chosen_range(veteran, client, executive_user, days):
    client.force_login(executive_user)
    today = timezone.localdate()
    start = today + timedelta(days=1) - timedelta(days=days)
    rows = _period_rows(client, veteran, days)
    assert rows
    assert all(date.fromisoformat(r["From"]) >= start for r in rows)
    assert all(date.fromisoformat(r["To"]) <= today for r in rows)
    # The periods tile the range from the first one on: together they hold its runs.
    roi = selectors.agent_roi(agent=veteran, start=start, end=today + timedelta(days=1))
    assert sum(int(r["Runs"]) for r in rows) == roi.metrics.runs


def test_a_longer_range_shows_more_periods(veteran, client, executive_user):
    client.force_login(executive_user)
    assert len(_period_rows(client, veteran, 30)) < len(_period_rows(client, veteran, 180))


def test_no_period_before_the_first_run_is_drawn(veteran, client, executive_user):
    client.force_login(executive_user)
    first_run = timezone.localdate() - timedelta(days=150)
    rows = _period_rows(client, veteran, 365)
    # Live for 300 days, but reporting for 150: nothing ends before the first run.
    assert min(date.fromisoformat(r["To"]) for r in rows) >= first_run
    assert min(date.fromisoformat(r["From"]) for r in rows) <= first_run


def test_a_period_without_runs_is_not_shown_as_a_loss(veteran, client, executive_user):
    client.force_login(executive_user)
    rows = _period_rows(client, veteran, 365)
    quiet = [r for r in rows if r["Runs"] == "0"]
    assert quiet, "the quiet stretch spans a whole calendar month"
    assert all(r["Savings (USD)"] == "" for r in quiet)
    assert all(r["Savings (USD)"] != "" for r in rows if r["Runs"] != "0")


def test_an_agent_without_runs_has_no_periods(client, executive_user):
    agent = AgentFactory(deployed_at=timezone.now() - timedelta(days=200))
    client.force_login(executive_user)
    assert _period_rows(client, agent, 365) == []
    page = client.get(f"/reports/agents/{agent.slug}/?days=365").text
    assert "No reporting period with runs in this range" in page


def test_the_chart_draws_one_bar_per_period_with_runs(veteran, client, executive_user):
    client.force_login(executive_user)
    rows = _period_rows(client, veteran, 365)
    page = client.get(f"/reports/agents/{veteran.slug}/?days=365").text
    svg = re.search(r'<svg[^>]*data-testid="chart-agent-periods".*?</svg>', page, re.S).group(0)
    assert svg.count("<rect") - 1 == sum(1 for r in rows if r["Runs"] != "0")  # minus the legend swatch


# --- labels ----------------------------------------------------------------------------------

# A generous average advance of an 11 px sans-serif character (digits and lower case are ~6 px).
CHAR_PX = 6.5


def _axis_labels(svg: str) -> list[tuple[float, str]]:
    return [(float(x), text) for x, text in re.findall(r'<text x="([\d.]+)"[^>]*class="axis-label">([^<]*)<', svg)]


def _assert_apart(svg: str, width: int) -> None:
    labels = _axis_labels(svg)
    assert labels
    for (x1, a), (x2, b) in zip(labels, labels[1:], strict=False):
        assert x2 - x1 >= (len(a) + len(b)) * CHAR_PX / 2, (a, b)
    for x, text in labels:
        assert x - len(text) * CHAR_PX / 2 >= 0 and x + len(text) * CHAR_PX / 2 <= width, text


@pytest.mark.parametrize("width", [240, 360, 720])
@pytest.mark.parametrize("count", [3, 13, 26, 60])
def test_axis_labels_never_overlap(width, count):
    labels = [f"{m} 2026" for m in ("September", "May", "November", "July")] * 15
    svg = chart(title="t", labels=labels[:count], series=[Series("s", [1] * count, kind="bar")], width=width)
    _assert_apart(svg, width)


def test_the_period_chart_labels_on_the_page_never_overlap(veteran, client, executive_user):
    client.force_login(executive_user)
    page = client.get(f"/reports/agents/{veteran.slug}/?days=365").text
    svg = re.search(r'<svg[^>]*data-testid="chart-agent-periods".*?</svg>', page, re.S).group(0)
    _assert_apart(svg, 720)
