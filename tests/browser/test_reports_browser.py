"""An executive reads the portfolio in real Chromium: charts drawn, the demo's numbers on the
page, and the CSV downloads. The screenshot is the one in the README."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def demo(reseeded, monkeypatch):
    """The registry demo, two weeks of its demo telemetry (the full 90 days is the same shape,
    only slower to load), and the reports seeder on top."""
    import importlib

    from django.apps import apps
    from django.contrib.auth import get_user_model

    import telemetry.demo
    from registry.demo import seed_registry
    from reports.demo import seed_reports

    # A transactional test before this one flushed the data-migration rows: the permission too.
    importlib.import_module("reports.migrations.0002_view_reports_permission").grant(apps, None)
    monkeypatch.setattr(telemetry.demo, "DAYS", 14)
    seed_registry()
    telemetry.demo.seed_telemetry()
    seed_reports()
    executive = get_user_model().objects.get(username="executive")
    executive.set_password("pw")
    executive.save()
    return executive


def test_executive_reads_the_portfolio_with_charts_and_downloads_the_csv(new_page, demo):
    from reports import selectors

    today = timezone.localdate()
    expected = selectors.portfolio(user=demo, start=today - timedelta(days=89), end=today + timedelta(days=1))
    assert expected.totals.metrics.runs > 1000  # the demo really has telemetry

    page = new_page()
    browser_login(page, "executive")
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url("**/reports/")
    assert page.get_by_role("heading", level=1).inner_text() == "Portfolio ROI"

    for testid in ("chart-money", "chart-runs", "chart-success"):
        chart = page.get_by_test_id(testid)
        assert chart.is_visible()
        assert chart.locator("polyline, rect, circle").count() > 3  # data points, lines or bars
    assert page.get_by_test_id("total-runs").inner_text() == f"{expected.totals.metrics.runs:,}"
    assert page.get_by_test_id("total-annualized-savings").inner_text() == (
        f"${expected.totals.annualized_savings_usd:,.0f}"
        if expected.totals.annualized_savings_usd >= 0
        else f"−${-expected.totals.annualized_savings_usd:,.0f}"
    )
    top = page.get_by_test_id("table-top-savings").locator("tbody tr").first.locator("td").first.inner_text()
    assert top == expected.top_by_savings[0].agent.name
    # Executives read only: no edit controls anywhere on the page.
    assert page.get_by_role("button", name="Complete review").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reports-portfolio.png"), full_page=False)

    with page.expect_download() as info:
        page.get_by_test_id("csv-agents").click()
    download = info.value
    assert download.suggested_filename.startswith("quorum-portfolio-agents-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    by_agent = {r["Agent"]: r for r in rows}
    for roi in expected.rois:
        assert by_agent[roi.agent.name]["Runs"] == str(roi.metrics.runs)
    assert sum(int(r["Runs"]) for r in rows) == expected.totals.metrics.runs

    # The agent ROI page, one click away.
    page.get_by_test_id("table-top-savings").locator("tbody tr a").first.click()
    page.wait_for_url("**/reports/agents/**")
    assert page.get_by_test_id("chart-agent-runs").is_visible()
    assert page.get_by_test_id("roi-multiple").inner_text().endswith("×")
