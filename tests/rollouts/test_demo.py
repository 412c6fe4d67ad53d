"""The demo has a rollout plan in progress, visible on the agent card and the home page."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from registry.models import Agent
from rollouts.choices import PlanStatus
from rollouts.demo import DEMO_AGENT
from rollouts.models import RolloutPlan

pytestmark = pytest.mark.django_db


def test_the_demo_shows_a_plan_in_progress_on_the_card_and_the_home_page(client):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Rollouts demo: contract-clauses 1.2 at 5 %" in out.getvalue()
    plan = RolloutPlan.objects.get(agent__slug=DEMO_AGENT)
    assert plan.status == PlanStatus.ACTIVE and plan.stage_index == 1
    checks = {c.stage_index: c for c in plan.gate_checks.all()}
    assert checks[0].verdict == "pass", [(c.stage_index, c.verdict, c.outcome, c.gates) for c in checks.values()]
    assert checks[1].outcome == "waiting for the minimum duration", checks[1].gates
    agent = Agent.objects.get(slug=DEMO_AGENT)
    assert agent.canary_version.label == "1.2" and str(agent.canary_share_pct) == "5.00"

    client.force_login(get_user_model().objects.get(username="executive"))
    home = client.get("/").content.decode()
    assert 'data-testid="home-rollouts"' in home and "1.2 at 5 %" in home
    card = client.get(agent.get_absolute_url()).content.decode()
    assert 'data-testid="plan-timeline"' in card and "Stage 2: 5 % for at least 72 h" in card
    page = client.get(f"/rollouts/{DEMO_AGENT}/").content.decode()
    assert 'data-testid="lift-table"' in page  # the shadow days before the plan
    # A version seen in shadow is offered for a canary plan (a request, with its approvals), to
    # those who may request one: the executive reads, the owner is offered the link.
    link = f"/approvals/new/{DEMO_AGENT}/rollout_plan/?version=1.2"
    assert link not in page
    client.force_login(agent.owner)
    page = client.get(f"/rollouts/{DEMO_AGENT}/").content.decode()
    assert link in page and "request a canary plan" in page
    assert client.get(link + "&preset=canary_48h").status_code == 200

    # Seeding again changes nothing (tests/registry/test_seed_demo.py runs the whole seed twice).
    from rollouts.demo import seed_rollouts

    seed_rollouts()
    assert RolloutPlan.objects.filter(agent__slug=DEMO_AGENT).count() == 1
