"""The demo's monitor in alert is visible on the agent card and the home page; both pages answer
every demo role (and the SLO's burn rates and budget are on the card)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from monitors.burn import window_end
from monitors.demo import DEMO_AGENT, seed_monitors
from monitors.models import SLO, Monitor
from registry.demo import seed_registry
from registry.models import Agent

from .conftest import fill

DEMO_LOGINS = ["board", "approver", "owner", "operator", "executive", "auditor", "admin"]


@pytest.fixture
def demo(db, deliveries):
    seed_registry()
    agent = Agent.objects.get(slug=DEMO_AGENT)
    # The seeded runs' shape without seeding months of them: a day of answers, one in ten slow.
    fill(agent, minutes=24 * 60, end=window_end(timezone.now()), runs=4, slow=1, slow_ms=40000)
    deliveries(seed_monitors)
    deliveries(seed_monitors)  # idempotent: nothing more
    return agent


def test_the_demo_has_a_monitor_in_alert_on_the_card_and_the_home_page(demo, client):
    in_alert = Monitor.objects.get(level="alert")
    assert in_alert.agent == demo and Monitor.objects.filter(name=in_alert.name).count() == 1
    assert SLO.objects.get(agent=demo).status["availability"]["budget_left_pct"] == 100.0
    client.force_login(get_user_model().objects.get(username="owner"))
    card = client.get(reverse("registry:agent_detail", kwargs={"slug": demo.slug}))
    assert card.status_code == 200
    html = card.content.decode()
    assert f'data-testid="monitor-{in_alert.pk}"' in html and "alert-danger" in html
    assert f'data-testid="slo-{SLO.objects.get(agent=demo).pk}"' in html
    home = client.get(reverse("home")).content.decode()
    assert f'data-testid="home-monitor-{in_alert.pk}"' in home


def test_card_and_home_answer_every_role(demo, client):
    for username in DEMO_LOGINS:
        client.force_login(get_user_model().objects.get(username=username))
        assert client.get(reverse("home")).status_code == 200, username
        card = client.get(reverse("registry:agent_detail", kwargs={"slug": demo.slug}))
        assert card.status_code in (200, 404), username  # 404: an agent the role may not see


def test_the_portfolio_shows_each_slo_and_its_budget(demo, client):
    client.force_login(get_user_model().objects.get(username="executive"))
    html = client.get(reverse("reports:portfolio")).content.decode()
    section = html[html.index('data-testid="portfolio-slos"') :]
    section = section[: section.index("</section>")]
    assert demo.name in section and "100.0 %" in section
