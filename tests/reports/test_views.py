"""Report pages: executives read everything and get 403 on every edit; CSV for every table;
bad query parameters get a clear 400; the API speaks the project's error shape."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from registry import reviews
from registry.models import Review
from reports import services
from reports.models import AgentInvestment
from telemetry.models import Run
from tests.factories import AgentVersionFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_data(agent):
    agent.deployed_at = timezone.now() - timedelta(days=120)
    agent.human_cost_per_minute_usd = Decimal("1")
    agent.human_minutes_per_unit = Decimal("10")
    agent.save()
    version = AgentVersionFactory(agent=agent)
    Run.objects.bulk_create(
        make_run(
            agent,
            version=version,
            started_at=timezone.now() - timedelta(days=i % 20, hours=1),
            outcome="resolved" if i % 5 else "escalated",
            cost_usd="0.40",
            latency_ms=1500 + i,
            save=False,
        )
        for i in range(30)
    )
    services.rollup_refresh()
    review = Review.objects.create(agent=agent, kind="ad_hoc_scope", due_on=timezone.localdate(), reason="scope")
    reviews.review_prepare(review=review)
    return agent, review


def read_pages(agent, review):
    return [
        "/reports/",
        "/reports/?days=30",
        f"/reports/agents/{agent.slug}/",
        "/reports/reviews/",
        "/reports/reviews/overdue/",
        f"/reports/reviews/{review.pk}/",
        "/reports/maturity/",
    ]


@pytest.mark.parametrize("role_user", ["executive_user", "auditor_user", "board_user"])
def test_readers_see_every_report_page(with_data, client, request, role_user):
    client.force_login(request.getfixturevalue(role_user))
    for url in read_pages(*with_data):
        response = client.get(url)
        assert response.status_code == 200, url


def test_anonymous_is_sent_to_login_and_roleless_users_are_refused(with_data, client, outsider_user):
    for url in read_pages(*with_data):
        assert client.get(url).status_code == 302
    client.force_login(outsider_user)
    for url in read_pages(*with_data):
        assert client.get(url).status_code in (403, 404), url


def test_executives_get_403_on_every_edit_and_nothing_changes(with_data, client, executive_user):
    agent, review = with_data
    client.force_login(executive_user)
    edits = [
        ("post", f"/reports/reviews/{review.pk}/complete/", {"findings": "fine", "outcome": "continue"}),
        ("post", f"/reports/reviews/{review.pk}/refresh/", {}),
        ("get", "/reports/reviews/new/", None),
        ("post", "/reports/reviews/new/", {"agent": agent.slug, "kind": "ad_hoc_scope", "reason": "x"}),
        ("get", f"/reports/agents/{agent.slug}/investment/", None),
        ("post", f"/reports/agents/{agent.slug}/investment/", {"build_cost_usd": "5"}),
    ]
    prepared = review.dossier.prepared_at
    for method, url, data in edits:
        response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        assert response.status_code == 403, url
    review.refresh_from_db()
    assert review.status == "open" and review.dossier.prepared_at == prepared
    assert Review.objects.count() == 1
    assert not AgentInvestment.objects.exists()
    # and the pages offer no edit controls
    page = client.get(f"/reports/reviews/{review.pk}/").text
    assert "Complete review" not in page and "Refresh figures" not in page


def test_the_board_completes_a_review_inline_with_htmx(with_data, client, board_user):
    agent, review = with_data
    client.force_login(board_user)
    bad = client.post(
        f"/reports/reviews/{review.pk}/complete/",
        {"findings": "", "outcome": "continue"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 400 and "This field is required" in bad.text
    review.refresh_from_db()
    assert review.status == "open"
    ok = client.post(
        f"/reports/reviews/{review.pk}/complete/",
        {"findings": "All good.", "outcome": "continue"},
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 200
    assert "<html" not in ok.text and 'data-testid="review-outcome"' in ok.text
    agent.refresh_from_db()
    assert agent.last_reviewed_on == timezone.localdate()
    assert agent.next_review_due.strftime("%Y-%m-%d") in ok.text


def test_completing_without_javascript_redirects(with_data, client, board_user):
    _, review = with_data
    client.force_login(board_user)
    response = client.post(f"/reports/reviews/{review.pk}/complete/", {"findings": "ok", "outcome": "pause"})
    assert response.status_code == 302 and response.url == f"/reports/reviews/{review.pk}/"


def test_the_owner_records_a_build_cost_and_bad_input_changes_nothing(with_data, client, owner_user):
    agent, _ = with_data
    client.force_login(owner_user)
    bad = client.post(f"/reports/agents/{agent.slug}/investment/", {"build_cost_usd": "-3"})
    assert bad.status_code == 400 and not AgentInvestment.objects.exists()
    ok = client.post(f"/reports/agents/{agent.slug}/investment/", {"build_cost_usd": "9000", "note": "v1"})
    assert ok.status_code == 302
    assert AgentInvestment.objects.get(agent=agent).build_cost_usd == Decimal("9000")


PORTFOLIO_TABLES = [
    "agents", "top-savings", "top-cost", "below-thresholds", "incident-cost", "trend", "budget", "gate", "near-misses",
]  # fmt: skip


def test_every_portfolio_table_exports_as_csv(with_data, client, executive_user):
    client.force_login(executive_user)
    page = client.get("/reports/")
    for key in PORTFOLIO_TABLES:
        assert f'data-testid="csv-{key}"' in page.text
        response = client.get(f"/reports/?export={key}")
        assert response.status_code == 200, key
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows and rows[0]


def test_the_agents_csv_has_the_numbers_of_the_page(with_data, client, executive_user):
    agent, _ = with_data
    client.force_login(executive_user)
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/?export=agents").content.decode())))
    row = next(r for r in rows if r["Agent"] == agent.name)
    assert row["Runs"] == "30"
    assert row["Task success %"] == "80.0"
    assert row["Model cost (USD)"] == "12.00"


def test_every_agent_and_review_table_exports_as_csv(with_data, client, executive_user):
    agent, _ = with_data
    client.force_login(executive_user)
    for url in [f"/reports/agents/{agent.slug}/?export={key}" for key in ("summary", "periods", "versions")] + [
        "/reports/reviews/?export=reviews",
        "/reports/reviews/overdue/?export=overdue",
        "/reports/maturity/?export=answers",
    ]:
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), url


def test_unknown_tables_and_bad_periods_get_a_clear_400(with_data, client, executive_user):
    client.force_login(executive_user)
    response = client.get("/reports/?export=secrets")
    assert response.status_code == 400 and "agents" in response.text
    response = client.get("/reports/?days=13")
    assert response.status_code == 400 and 'data-testid="period-error"' in response.text
    response = client.get("/reports/reviews/?month=2026-13")
    assert response.status_code == 400 and "YYYY-MM" in response.text


def test_portfolio_page_draws_svg_charts_and_no_cdn(with_data, client, executive_user):
    client.force_login(executive_user)
    text = client.get("/reports/").text
    for testid in ("chart-money", "chart-runs", "chart-success"):
        assert f'data-testid="{testid}"' in text
    assert "<polyline" in text and "<rect" in text
    assert "cdn" not in text.lower() and "https://" not in text


def test_portfolio_page_queries_are_bounded(with_data, client, executive_user, django_assert_max_num_queries):
    client.force_login(executive_user)
    with django_assert_max_num_queries(30):
        assert client.get("/reports/").status_code == 200


def test_the_calendar_shows_due_reviews_and_navigates_months(with_data, client, executive_user):
    agent, review = with_data
    client.force_login(executive_user)
    text = client.get("/reports/reviews/").text
    assert f"/reports/reviews/{review.pk}/" in text
    nxt = (timezone.localdate().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    assert client.get(f"/reports/reviews/?month={nxt}").status_code == 200


# --- API -----------------------------------------------------------------------------------


def test_api_portfolio_and_agent_roi(with_data, client, executive_user):
    agent, _ = with_data
    client.force_login(executive_user)
    data = client.get("/api/v1/reports/portfolio/?days=30").json()
    assert data["totals"]["metrics"]["runs"] == 30
    assert any(a["agent"] == agent.slug for a in data["agents"])
    roi = client.get(f"/api/v1/reports/agents/{agent.slug}/roi/").json()
    assert roi["roi"]["metrics"]["successes"] == 24
    assert roi["periods"] and roi["periods"][0]["grain"] == "week"
    assert client.get("/api/v1/reports/maturity/").json()["stage"] >= 1
    due = client.get("/api/v1/reports/reviews/due/").json()
    assert any(d["agent"] == agent.slug for d in due)


def test_api_errors_are_in_the_project_shape(with_data, client, executive_user, outsider_user):
    agent, _ = with_data
    client.force_login(executive_user)
    bad = client.get("/api/v1/reports/portfolio/?days=12")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "days"
    assert client.get("/api/v1/reports/agents/nope/roi/").status_code == 404
    client.force_login(outsider_user)
    assert client.get("/api/v1/reports/portfolio/").status_code == 403
