""" "Why was this allowed?": one page per action request and per applied change request joining
the policy and rule, the checks, the kill switches, the approvals, the digest, the eval run and
the runs that followed; recorded facts versus reconstructed ones; a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from actions.demo import seed_actions
from actions.models import ActionRequest
from approvals.choices import RequestStatus
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services import change_request_create, decision_record
from registry.choices import VersionState
from registry.demo import seed_registry
from telemetry.models import Run
from tests.actions.conftest import refund

pytestmark = pytest.mark.django_db


def _approve(req, *approvers, reason="Checked the order and the amount."):
    for approver in approvers:
        decision_record(
            request_id=req.pk, approver=approver, verdict="approve", reason=reason, payload_hash=req.payload_hash
        )
    return ApprovalRequest.objects.get(pk=req.pk)


def test_the_demo_refund_shows_rule_policy_version_approvals_and_digest(client, auditor_user):
    """GIVEN the demo (the registry's and the action gate's seeders, as seed_demo runs them)
    and its refund of 120 USD waiting for two support managers, both approve it WHEN an auditor
    opens "why was this allowed?" THEN the page shows the rule that matched with its text, the
    policy version, both approvals with their reasons, and the bundle digest of the version it
    ran under, all recorded (only the eval run is derived)."""
    seed_registry()
    seed_actions(stdout=StringIO())
    action = ActionRequest.objects.filter(idempotency_key__startswith="demo-refund-2", status="pending").latest(
        "created_at"
    )
    req = action.approval_request
    from django.contrib.auth import get_user_model

    managers = get_user_model().objects.filter(username__in=["support1", "support2"]).order_by("username")
    decision_record(
        request_id=req.pk,
        approver=managers[0],
        verdict="approve",
        reason="Order A-1002 arrived broken.",
        payload_hash=req.payload_hash,
    )
    decision_record(
        request_id=req.pk,
        approver=managers[1],
        verdict="approve",
        reason="Photo of the damage attached.",
        payload_hash=req.payload_hash,
    )
    action.refresh_from_db()
    assert action.status == "approved"
    deployed = action.agent.versions.get(state=VersionState.DEPLOYED)
    client.force_login(auditor_user)

    html = client.get(reverse("trail:why_action", args=[action.pk])).content.decode()

    assert "payments.refund policy v1" in html
    assert "rule 4" in html and "require 2 approvals from &quot;Support manager&quot; if amount_usd &gt; 50" in html
    assert "Order A-1002 arrived broken." in html and "Photo of the damage attached." in html
    assert "Sam Sterling" in html and "Priya Patel" in html
    assert deployed.bundle_digest in html and deployed.label in html
    for section in ("why-decision", "why-checks", "why-kill-switch", "why-version"):
        part = html.split(f'data-testid="{section}"', 1)[1].split("</dl>", 1)[0]
        assert 'data-testid="reconstructed"' not in part, section
    # Reachable from the request page and from the agent card.
    assert reverse("trail:why_action", args=[action.pk]) in client.get(action.get_absolute_url()).content.decode()
    assert reverse("trail:why_action", args=[action.pk]) in client.get(action.agent.get_absolute_url()).content.decode()


def test_an_allowed_action_records_the_kill_switches_grant_and_digest(client, agent_client, refund_policy, board_user):
    body = refund(agent_client, key="small", amount_usd=20, customer_tier="pro").json()
    action = ActionRequest.objects.get(pk=body["id"])
    snapshot = action.decision_snapshot
    assert snapshot["kill_switch"] == {
        "tool_has_side_effects": True,
        "agent_side_effects_enabled": True,
        "fleet_side_effects_enabled": True,
    }
    assert snapshot["grant_check"] == "passed"
    assert snapshot["version"]["bundle_digest"] == action.agent.versions.get(state="deployed").bundle_digest
    client.force_login(board_user)

    html = client.get(reverse("trail:why_action", args=[action.pk])).content.decode()

    assert "on (side effects enabled)" in html and "Grant and constraint check" in html
    assert "allow if amount_usd &lt;= 50 and customer_tier in" in html  # the rule's text


def test_a_decision_made_before_snapshots_says_what_is_reconstructed(client, agent_client, refund_policy, board_user):
    body = refund(agent_client, key="old", amount_usd=20, customer_tier="pro").json()
    ActionRequest.objects.filter(pk=body["id"]).update(decision_snapshot=None)
    client.force_login(board_user)

    html = client.get(reverse("trail:why_action", args=[body["id"]])).content.decode()

    assert html.count('data-testid="reconstructed"') >= 3
    assert "reconstructed from the model log" in html
    assert "the gate checks the grant before any rule" in html


def test_an_action_the_user_may_not_see_is_a_404(client, agent_client, refund_policy, outsider_user):
    body = refund(agent_client, key="k", amount_usd=20, customer_tier="pro").json()
    client.force_login(outsider_user)
    assert client.get(reverse("trail:why_action", args=[body["id"]])).status_code == 404


def test_an_applied_change_request_shows_approvals_snapshot_and_checks(client, grant_request, approver_a, approver_b):
    req = _approve(grant_request, approver_a, approver_b)
    assert req.status == RequestStatus.APPLIED
    assert req.apply_snapshot["kill_switch"] == {"agent_side_effects_enabled": True, "fleet_side_effects_enabled": True}
    client.force_login(approver_a)

    page = client.get(reverse("trail:why_change", args=[req.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Tool grant" in html or "tool grant" in html.lower()
    assert req.payload_hash in html
    assert html.count("Checked the order and the amount.") == 2
    assert "Changed: Tools" in html
    assert reverse("trail:why_change", args=[req.pk]) in client.get(req.get_absolute_url()).content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_approvals_or_runs(
    client, agent, deployed, approver_a, approver_b, approver_c, owner_user, board_user
):
    """GIVEN two applied change requests, one with two approvals and no run after it, the other
    with three approvals and 30 runs after it WHEN each why-page renders THEN both take the same
    number of queries, and few."""
    from tests.factories import ToolFactory

    first = change_request_create(
        agent=agent,
        kind="tool_grant",
        payload={"tool": ToolFactory(name="a.tool").name, "constraints": {}},
        requester=owner_user,
        justification="First.",
    )
    first = _approve(first, approver_a, approver_b)
    ApprovalPolicy.objects.update(required_approvals=3)
    second = change_request_create(
        agent=agent,
        kind="tool_grant",
        payload={"tool": ToolFactory(name="b.tool").name, "constraints": {}},
        requester=owner_user,
        justification="Second.",
    )
    second = _approve(second, approver_a, approver_b, approver_c)
    assert (first.status, second.status) == (RequestStatus.APPLIED, RequestStatus.APPLIED)
    assert second.decisions.count() == 3
    later = timezone.now() + timedelta(minutes=1)
    Run.objects.bulk_create(
        Run(agent=agent, run_id=f"r-{i}", started_at=later, ended_at=later, outcome="resolved") for i in range(30)
    )
    client.force_login(board_user)
    _queries(client, reverse("trail:why_change", args=[first.pk]))  # warm the content-type cache

    few = _queries(client, reverse("trail:why_change", args=[first.pk]))
    many = _queries(client, reverse("trail:why_change", args=[second.pk]))

    assert few == many
    assert many <= 25
