"""Budget burn: a fixture that will overspend raises one alert per day (and one e-mail); one
that will not raises none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from reports import selectors, services
from reports.models import BudgetAlert
from tests.factories import AgentFactory, UserFactory
from tests.reports.factories import make_run

pytestmark = pytest.mark.django_db

# 10 November 2026, noon: a third of the 30-day month has passed (9.5 days).
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture
def spenders(db):
    owner = UserFactory(username="spender-owner", email="owner@example.test")
    # Spent 400 USD in 9.5 days: projected 400 / (9.5 / 30) = 1263.16 > 1000.
    over = AgentFactory(slug="over", owner=owner, monthly_budget_usd=Decimal("1000"), status="production")
    # Spent 100 USD: projected 315.79 < 1000.
    under = AgentFactory(slug="under", owner=owner, monthly_budget_usd=Decimal("1000"), status="production")
    for i in range(8):
        make_run(over, started_at=datetime(2026, 11, 1 + i, 9, tzinfo=UTC), cost_usd="50")
        make_run(under, started_at=datetime(2026, 11, 1 + i, 9, tzinfo=UTC), cost_usd="12.5")
    # Last month's spend does not count towards this month.
    make_run(under, started_at=datetime(2026, 10, 31, 23, tzinfo=UTC), cost_usd="900")
    services.rollup_refresh()
    return over, under


def test_it_projects_month_to_date_spend_to_the_months_end(spenders):
    burns = {b.agent.slug: b for b in selectors.budget_burns(now=NOW)}
    assert burns["over"].month_to_date_usd == Decimal("400")
    assert burns["over"].projected_usd == Decimal("1263.16")
    assert burns["over"].over_budget
    assert burns["under"].month_to_date_usd == Decimal("100")
    assert burns["under"].projected_usd == Decimal("315.79")
    assert not burns["under"].over_budget


def test_an_overspender_raises_one_alert_per_day_and_one_mail(
    spenders, eager_celery, django_capture_on_commit_callbacks
):
    over, under = spenders
    for hour in range(0, 12, 3):  # the hourly beat task, several times the same day
        with django_capture_on_commit_callbacks(execute=True):
            services.budget_check(now=NOW + timedelta(hours=hour))
    assert list(BudgetAlert.objects.values_list("agent__slug", "day")) == [("over", NOW.date())]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@example.test"] and over.name in mail.outbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        services.budget_check(now=NOW + timedelta(days=1))
    assert BudgetAlert.objects.filter(agent=over).count() == 2  # next day: one more
    assert BudgetAlert.objects.filter(agent=under).count() == 0  # never
    assert len(mail.outbox) == 2


def test_agents_without_budget_or_not_live_raise_nothing(db):
    a = AgentFactory(monthly_budget_usd=Decimal("0"), status="production")
    b = AgentFactory(monthly_budget_usd=Decimal("10"), status="retired")
    for agent in (a, b):
        make_run(agent, started_at=datetime(2026, 11, 2, tzinfo=UTC), cost_usd="500")
    services.rollup_refresh()
    assert services.budget_check(now=NOW) == []


def test_budget_alerts_show_on_home_and_portfolio(spenders, client, executive_user):
    services.budget_check(now=NOW)
    client.force_login(executive_user)
    from django.utils import timezone

    BudgetAlert.objects.update(day=timezone.localdate())  # alerts of "today" for the pages
    home = client.get("/")
    assert home.status_code == 200
    over, under = spenders
    assert 'data-testid="home-budget-alerts"' in home.text
    panel = home.text.split('data-testid="home-budget-alerts"')[1].split("</ul>")[0]
    assert over.name in panel and under.name not in panel
    page = client.get("/reports/")
    banner = page.text.split('data-testid="budget-alerts"')[1].split("</div>")[0]
    assert over.name in banner and under.name not in banner
