"""Issue 13, item 2: weakening a drift policy (a higher threshold, turning it off, a weaker
automatic action) takes effect only through a two-person request; tightening saves at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from guardian.shortcuts import assign_perm

from approvals.models import ApprovalRequest
from approvals.services import decision_record
from evals import services
from evals.models import DriftPolicy
from tests.evals.test_views import policy_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _approve(req, *usernames):
    for name in usernames:
        user = UserFactory(username=name, roles=["Approver"])
        assign_perm("registry.approve_agent", user)
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)


@pytest.mark.parametrize(
    "weakening",
    [{"containment_drop_points": "30"}, {"enabled": None}, {"significance": "0.00001"}, {"min_samples": "500"}],
)
def test_one_owner_cannot_weaken_the_drift_policy(client, agent, owner_user, weakening):
    policy = services.driftpolicy_for(agent)
    DriftPolicy.objects.filter(pk=policy.pk).update(action="kill_switch")
    before = list(DriftPolicy.objects.values())
    client.force_login(owner_user)
    response = client.post(f"/evals/agents/{agent.slug}/drift-policy/", policy_data(action="kill_switch", **weakening))
    req = ApprovalRequest.objects.get(kind="drift_policy_change")
    assert response.status_code == 302 and response["Location"] == req.get_absolute_url()
    assert req.policy_snapshot["required_approvals"] >= 2
    assert list(DriftPolicy.objects.values()) == before  # the policy in force stays


def test_a_weaker_action_is_a_request_and_applies_after_two_approvals(client, agent, owner_user):
    policy = services.driftpolicy_for(agent)
    DriftPolicy.objects.filter(pk=policy.pk).update(action="kill_switch")
    client.force_login(owner_user)
    client.post(
        f"/evals/agents/{agent.slug}/drift-policy/",
        policy_data(action="none", containment_drop_points="10", min_samples="50"),
    )
    req = ApprovalRequest.objects.get(kind="drift_policy_change")
    assert req.payload == {"action": "none"}
    _approve(req, "drift-a")
    assert DriftPolicy.objects.get(pk=policy.pk).action == "kill_switch"
    _approve(req, "drift-b")
    assert DriftPolicy.objects.get(pk=policy.pk).action == "none"


def test_tightening_saves_at_once(client, agent, owner_user):
    client.force_login(owner_user)
    response = client.post(f"/evals/agents/{agent.slug}/drift-policy/", policy_data(containment_drop_points="5"))
    assert response.status_code == 302
    assert DriftPolicy.objects.get(agent=agent).containment_drop_points == Decimal("5")
    assert not ApprovalRequest.objects.exists()
