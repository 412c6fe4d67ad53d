"""Cancelling a halted rollout plan: one operator or the governance board, with a reason; the plan
ends, the canary stays where it is, the cancellation is on the audit chain; other roles are
refused and bad input changes nothing. There is no resume: the page says going forward is a new
plan request with the two-person approval."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from registry.models import AuditEntry
from rollouts.choices import PlanStatus
from rollouts.models import RolloutPlan
from rollouts.services import plan_cancel
from tests.rollouts.test_plans import _approved_plan

pytestmark = pytest.mark.django_db

ROLES = ["board", "approver", "owner", "operator", "executive", "auditor"]
MAY_CANCEL = {"board", "operator"}


@pytest.fixture
def halted(agent, versions, owner_user, approvers):
    plan = _approved_plan(agent, owner_user, approvers)
    RolloutPlan.objects.filter(pk=plan.pk).update(status=PlanStatus.HALTED, end_reason="Success gate failed.")
    plan.refresh_from_db()
    return plan


@pytest.fixture
def roles(board_user, approver_user, owner_user, operator_user, executive_user, auditor_user):
    users = (board_user, approver_user, owner_user, operator_user, executive_user, auditor_user)
    return dict(zip(ROLES, users, strict=True))


def _cancel_url(plan):
    return reverse("rollouts:plan_cancel", args=[plan.agent.slug, plan.pk])


def test_every_role_sees_the_cancel_form_only_where_allowed_and_others_are_refused(client, roles, halted):
    for name, user in roles.items():
        client.force_login(user)
        for page in (reverse("rollouts:agent", args=[halted.agent.slug]), halted.agent.get_absolute_url()):
            response = client.get(page)
            assert response.status_code == 200, (name, page)
            body = response.content.decode()
            assert ('data-testid="plan-cancel-form"' in body) == (name in MAY_CANCEL), (name, page)
        if name not in MAY_CANCEL:
            assert client.post(_cancel_url(halted), {"reason": "No."}).status_code == 403, name
    halted.refresh_from_db()
    assert halted.status == PlanStatus.HALTED


def test_an_operator_cancels_with_a_reason_and_the_canary_stays(client, operator_user, agent, halted):
    agent.refresh_from_db()
    share, canary = agent.canary_share_pct, agent.canary_version_id
    assert share > 0
    client.force_login(operator_user)
    page = client.get(reverse("rollouts:agent", args=[agent.slug])).content.decode()
    assert "two-person approval" in page and "There is no “resume”" in page
    response = client.post(_cancel_url(halted), {"reason": "The fix goes into 1.2 instead."}, follow=True)
    assert "canary stays at" in response.content.decode()
    halted.refresh_from_db()
    agent.refresh_from_db()
    assert halted.status == PlanStatus.CANCELLED and halted.ended_at is not None
    assert "1.2 instead" in halted.end_reason
    assert (agent.canary_share_pct, agent.canary_version_id) == (share, canary)
    entry = AuditEntry.objects.get(action="rollout.cancel")
    assert entry.actor_id == operator_user.pk and "1.2 instead" in entry.summary
    assert (
        'data-testid="plan-cancel-form"'
        not in client.get(reverse("rollouts:agent", args=[agent.slug])).content.decode()
    )


def test_the_board_cancels_too(board_user, halted):
    assert plan_cancel(plan_id=halted.pk, actor=board_user, reason="Abandoned.").status == PlanStatus.CANCELLED


@pytest.mark.parametrize("reason", ["", "   ", "x" * 451])
def test_bad_reason_is_a_clear_error_and_changes_nothing(client, operator_user, halted, reason):
    client.force_login(operator_user)
    response = client.post(_cancel_url(halted), {"reason": reason}, follow=True)
    assert response.status_code == 200 and "Not cancelled" in response.content.decode()
    halted.refresh_from_db()
    assert halted.status == PlanStatus.HALTED and not AuditEntry.objects.filter(action="rollout.cancel").exists()


def test_only_a_halted_plan_is_cancelled(client, operator_user, owner_user, agent, versions, approvers):
    active = _approved_plan(agent, owner_user, approvers)
    with pytest.raises(ValidationError, match="Only a halted plan"):
        plan_cancel(plan_id=active.pk, actor=operator_user, reason="Stop it.")
    with pytest.raises(PermissionDenied):
        plan_cancel(plan_id=active.pk, actor=owner_user, reason="Stop it.")
    client.force_login(operator_user)
    response = client.post(_cancel_url(active), {"reason": "Stop it."}, follow=True)
    assert "Only a halted plan" in response.content.decode()
    assert client.post(reverse("rollouts:plan_cancel", args=[agent.slug, 99999]), {"reason": "x"}).status_code == 404
    active.refresh_from_db()
    assert active.status == PlanStatus.ACTIVE and active.agent.canary_share_pct == Decimal(
        active.stages[0]["share_pct"]
    )
