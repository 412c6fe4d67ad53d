"""Invariants the database itself enforces: each violation is an IntegrityError."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry.cadence import add_months
from registry.models import Agent, AgentVersion, GlobalControls, Tool, ToolGrant
from tests.factories import AgentFactory, AgentVersionFactory, ToolFactory

pytestmark = pytest.mark.django_db


def _violates(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_it_refuses_a_duplicate_agent_slug(agent):
    _violates(
        lambda: AgentFactory._meta.model.objects.create(
            slug=agent.slug,
            name="Other",
            purpose="x",
            unit_of_work="u",
            kpi_name="k",
            owner_team=agent.owner_team,
            owner=agent.owner,
        )
    )


def test_it_refuses_a_duplicate_version_label_per_agent(agent):
    AgentVersionFactory(agent=agent, label="1.0")
    _violates(lambda: AgentVersionFactory(agent=agent, label="1.0"))


def test_the_same_label_is_fine_on_another_agent(agent):
    AgentVersionFactory(agent=agent, label="1.0")
    other = AgentFactory()
    assert AgentVersionFactory(agent=other, label="1.0").pk


@pytest.mark.parametrize("tier", [0, 4, 9])
def test_it_refuses_a_risk_tier_outside_1_to_3(agent, tier):
    _violates(lambda: Agent.objects.filter(pk=agent.pk).update(risk_tier=tier))


@pytest.mark.parametrize("tier", [5, 7])
def test_it_refuses_an_action_tier_outside_0_to_4(db, tier):
    _violates(lambda: Tool.objects.create(name="x.y", system="x", action_tier=tier))


def test_it_refuses_a_second_deployed_version(agent):
    AgentVersionFactory(agent=agent, label="1.0", state="deployed")
    _violates(lambda: AgentVersionFactory(agent=agent, label="1.1", state="deployed"))


def test_other_agents_each_keep_their_own_deployed_version(agent):
    AgentVersionFactory(agent=agent, label="1.0", state="deployed")
    assert AgentVersionFactory(agent=AgentFactory(), label="1.0", state="deployed").pk


def test_it_refuses_a_canary_share_over_100(agent):
    _violates(lambda: Agent.objects.filter(pk=agent.pk).update(canary_share_pct=Decimal("100.01")))


def test_it_refuses_negative_money(agent):
    _violates(lambda: Agent.objects.filter(pk=agent.pk).update(monthly_budget_usd=Decimal("-1")))


def test_it_refuses_an_unknown_status(agent):
    _violates(lambda: Agent.objects.filter(pk=agent.pk).update(status="exploded"))


def test_it_refuses_a_second_grant_of_the_same_tool(agent):
    version = AgentVersionFactory(agent=agent)
    tool = ToolFactory()
    ToolGrant.objects.create(version=version, tool=tool)
    _violates(lambda: ToolGrant.objects.bulk_create([ToolGrant(version=version, tool=tool)]))


def test_global_controls_is_a_single_row(db):
    GlobalControls.load()
    _violates(lambda: GlobalControls.objects.create(id=2))


@pytest.mark.parametrize(("tier", "expected"), [(1, date(2026, 4, 15)), (2, date(2026, 7, 15)), (3, date(2027, 1, 15))])
def test_next_review_follows_the_tier_cadence_from_the_last_review(agent, tier, expected):
    agent.risk_tier = tier
    agent.last_reviewed_on = date(2026, 1, 15)
    agent.save()
    agent.refresh_from_db()
    assert agent.next_review_due == expected


def test_next_review_counts_from_go_live_when_never_reviewed(agent):
    agent.risk_tier = 1
    agent.last_reviewed_on = None
    agent.deployed_at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    agent.save()
    assert agent.next_review_due == date(2027, 2, 28)


def test_next_review_is_empty_before_go_live(agent):
    agent.deployed_at = None
    agent.last_reviewed_on = None
    agent.save()
    assert agent.next_review_due is None


def test_a_tier_change_moves_the_next_review(agent):
    agent.last_reviewed_on = date(2026, 1, 1)
    agent.risk_tier = 3
    agent.save()
    agent.risk_tier = 1
    agent.save(update_fields=["risk_tier"])
    agent.refresh_from_db()
    assert agent.next_review_due == date(2026, 4, 1)


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 12) == date(2027, 12, 15)


def test_bundle_digest_covers_the_tool_grants(agent):
    version = AgentVersionFactory(agent=agent)
    before = version.bundle_digest
    ToolGrant.objects.create(version=version, tool=ToolFactory(name="payments.refund"), constraints={"max": 50})
    version.refresh_from_db()
    assert len(version.bundle_digest) == 64 and version.bundle_digest != before


def test_a_reviewed_version_is_frozen(agent):
    version = AgentVersionFactory(agent=agent)
    AgentVersion.objects.filter(pk=version.pk).update(state="approved")
    version.refresh_from_db()
    version.model_name = "another-model"
    with pytest.raises(ValidationError):
        version.save()
    with pytest.raises(ValidationError):
        ToolGrant.objects.create(version=version, tool=ToolFactory())
    version.refresh_from_db()
    assert version.model_name == "gpt-4o"
    assert version.grants.count() == 0


def test_a_frozen_version_can_still_change_state(agent):
    version = AgentVersionFactory(agent=agent)
    AgentVersion.objects.filter(pk=version.pk).update(state="approved")
    version.refresh_from_db()
    version.state = "deployed"
    version.deployed_at = datetime.now(UTC) - timedelta(minutes=1)
    version.save()
    assert AgentVersion.objects.get(pk=version.pk).state == "deployed"
