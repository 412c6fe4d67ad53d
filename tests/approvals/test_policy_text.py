"""The agent card says what changes need in words read from the approval policy itself, so an
edited policy shows on the card and the card never restates a rule the engine does not apply."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalPolicy
from approvals.selectors import agent_policy_lines

pytestmark = pytest.mark.django_db


def _card_lines(client, user, agent) -> str:
    client.force_login(user)
    response = client.get(agent.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_it_describes_the_seeded_tier_2_policy(agent):
    lines = dict(agent_policy_lines(agent))
    assert lines["Changes need"] == "2 distinct approvers, none of them the requester"
    assert lines["Go-live checklist"] == (
        "Privacy impact assessment, Security review, Eval results meet threshold, Cost projection and budget approval"
    )


def test_it_names_the_board_rule_and_the_owning_team_on_tier_1(agent):
    agent.risk_tier = 1
    agent.save(update_fields=["risk_tier"])
    lines = dict(agent_policy_lines(agent))
    assert lines["Changes need"] == (
        "2 distinct approvers, none of them the requester; at least one from the governance board outside "
        "Customer Support"
    )
    assert "Executive sign-off" in lines["Go-live checklist"]


def test_it_lists_a_kind_that_needs_more_than_the_rest(agent):
    agent.risk_tier = 3
    agent.save(update_fields=["risk_tier"])
    lines = dict(agent_policy_lines(agent))
    assert lines["Changes need"] == "one approver who is not the requester"
    # Re-enabling side effects has its own tier-3 row (and a floor of two in code).
    assert lines["Re-enable side effects"] == "2 distinct approvers, none of them the requester"


def test_it_follows_an_edited_policy_row_on_the_card(client, agent, owner_user):
    assert "2 distinct approvers, none of them the requester" in _card_lines(client, owner_user, agent)
    ApprovalPolicy.objects.filter(risk_tier=2, kind="").update(required_approvals=3)
    page = _card_lines(client, owner_user, agent)
    assert "3 distinct approvers, none of them the requester" in page
    assert "2 distinct approvers" not in page
