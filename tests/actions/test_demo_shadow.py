"""Issue 18 gap: the demo has a shadow policy beside payments.refund, set the governed way (a
two-person request, applied), with recorded disagreements the policy page shows."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth import get_user_model

from actions.demo import DEMO_SHADOW_RULES, seed_actions
from actions.models import PolicyShadow, ShadowDecision
from approvals.models import ApprovalRequest
from registry.demo import seed_registry

pytestmark = pytest.mark.django_db


def test_the_demo_runs_a_shadow_with_disagreements_on_the_policy_page(client):
    seed_registry()
    seed_actions()
    shadow = PolicyShadow.objects.get(tool__name="payments.refund", ended_at__isnull=True)
    assert shadow.rules_source == DEMO_SHADOW_RULES
    request = shadow.change_request
    assert (request.kind, request.status, request.requester.username) == ("action_policy_shadow", "applied", "board")
    assert request.decisions.filter(verdict="approve").count() == 2
    disagreed = ShadowDecision.objects.filter(shadow=shadow, agreed=False)
    keys = sorted(disagreed.values_list("action__idempotency_key", flat=True))
    assert keys == ["demo-refund-2", "demo-refund-4", "demo-refund-5"]
    assert ShadowDecision.objects.filter(shadow=shadow, agreed=True).count() == 3
    client.force_login(get_user_model().objects.get(username="auditor"))
    page = client.get("/actions/policies/payments.refund/")
    text = html.unescape(page.content.decode())
    assert page.status_code == 200
    assert "3 of 6 evaluated requests decided otherwise by the shadow." in text


def test_re_seeding_sets_no_second_shadow():
    seed_registry()
    seed_actions()
    seed_actions()
    assert PolicyShadow.objects.count() == 1
    assert ApprovalRequest.objects.filter(kind="action_policy_shadow").count() == 1
