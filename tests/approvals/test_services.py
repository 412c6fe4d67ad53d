"""The approval engine's rules, adversarially: every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from guardian.shortcuts import assign_perm

from approvals import services
from approvals.exceptions import DecisionRefused, RequestRefused
from approvals.models import ApprovalPolicy, ApprovalRequest, ChecklistItem, Decision
from registry import roles
from registry.choices import VersionState
from registry.models import AgentVersion
from tests.approvals.conftest import make_approver
from tests.factories import AgentFactory, AgentVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


def approve(req, user, reason="Looks right.", payload_hash=None):
    return services.decision_record(
        request_id=req.pk,
        approver=user,
        verdict="approve",
        reason=reason,
        payload_hash=payload_hash or ApprovalRequest.objects.get(pk=req.pk).payload_hash,
    )


def deny(req, user, reason="Too risky."):
    return services.decision_record(
        request_id=req.pk, approver=user, verdict="deny", reason=reason, payload_hash=req.payload_hash
    )


def refused(fn, fragment: str):
    with pytest.raises((DecisionRefused, RequestRefused)) as exc:
        fn()
    assert fragment in exc.value.message, exc.value.message
    return exc.value


# --- creation -------------------------------------------------------------------------------


def test_it_creates_a_request_with_hash_snapshot_and_expiry(grant_request, agent, deployed):
    req = grant_request
    assert req.status == "pending"
    assert req.payload["tool"] == "payments.refund"
    assert req.payload["base_label"] == "1.0"
    assert req.payload_hash == services.payload_hash_compute(req.payload)
    assert len(req.payload_hash) == 64
    assert req.policy_snapshot["required_approvals"] == 2  # tier 2: two-person rule
    assert req.policy_snapshot["board_outside_team"] is False
    assert timedelta(days=13, hours=23) < req.expires_at - timezone.now() <= timedelta(days=14)
    assert req.version == deployed


def test_the_hash_is_over_canonical_json_whatever_the_key_order():
    assert services.payload_hash_compute({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == services.payload_hash_compute(
        {"a": [1, {"x": 1, "y": 2}], "b": 1}
    )


def test_a_policy_change_does_not_change_a_pending_request(grant_request, approver_a):
    ApprovalPolicy.objects.filter(risk_tier=2, kind="").update(required_approvals=1)
    approve(grant_request, approver_a)
    grant_request.refresh_from_db()
    assert grant_request.status == "pending"  # still needs the two it was created with


def test_it_refuses_a_request_from_someone_without_rights_on_the_agent(agent, deployed, refund_tool, other_owner_user):
    refused(
        lambda: services.change_request_create(
            agent=agent,
            kind="tool_grant",
            payload={"tool": "payments.refund"},
            requester=other_owner_user,
            justification="x",
        ),
        "You may not request changes",
    )
    assert ApprovalRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("tool_grant", {"tool": "no.such_tool"}, "tool"),
        ("tool_grant", {"tool": "payments.refund", "constraints": [1]}, "constraints"),
        ("tool_grant", {"tool": "payments.refund", "surprise": 1}, "payload"),
        ("rollout_step", {"version": "1.0", "share_pct": "50"}, "version"),
        ("tier_change", {"risk_tier": 7}, "risk_tier"),
        ("tier_change", {"risk_tier": 2}, "risk_tier"),
        ("go_live", {"version": "9.9"}, "version"),
        ("reenable_side_effects", {}, "agent"),
        ("no_such_kind", {}, "kind"),
    ],
)
def test_it_rejects_a_bad_payload_with_a_field_message(agent, deployed, refund_tool, owner_user, kind, payload, field):
    with pytest.raises(ValidationError) as exc:
        services.change_request_create(
            agent=agent, kind=kind, payload=payload, requester=owner_user, justification="Because."
        )
    assert field in exc.value.message_dict
    assert ApprovalRequest.objects.count() == 0


def test_it_requires_a_justification(agent, deployed, refund_tool, owner_user):
    with pytest.raises(ValidationError) as exc:
        services.change_request_create(
            agent=agent, kind="tool_grant", payload={"tool": "payments.refund"}, requester=owner_user, justification=" "
        )
    assert "justification" in exc.value.message_dict
    assert ApprovalRequest.objects.count() == 0


def test_the_same_change_cannot_be_open_twice(grant_request, agent, owner_user):
    refused(
        lambda: services.change_request_create(
            agent=agent,
            kind="tool_grant",
            payload={"tool": "payments.refund", "constraints": {"max_amount_usd": 50}},
            requester=owner_user,
            justification="Again.",
        ),
        "already requested",
    )
    assert ApprovalRequest.objects.count() == 1


def test_it_runs_created_hooks_inside_the_transaction(agent, owner_user):
    from approvals.extensions import request_created_hooks
    from tests.approvals import hooks

    version = AgentVersionFactory(agent=agent, label="2.0")
    with request_created_hooks.override(hooks.tick_eval_threshold):
        req = services.change_request_create(
            agent=agent,
            kind="new_version",
            payload={"version": "2.0"},
            requester=owner_user,
            justification="New model.",
        )
    item = req.checklist.get(key="eval_threshold")
    assert item.done and item.automatic and "eval run" in item.evidence
    version.refresh_from_db()
    assert version.state == VersionState.IN_REVIEW


# --- the adversarial list ------------------------------------------------------------------------


def test_self_approval_is_refused(agent, deployed, refund_tool):
    owner_approver = make_approver("selfie")
    assign_perm("registry.change_agent", owner_approver, agent)
    req = services.change_request_create(
        agent=agent, kind="tool_grant", payload={"tool": "payments.refund"}, requester=owner_approver, justification="x"
    )
    refused(lambda: approve(req, owner_approver), "You requested this")
    assert Decision.objects.count() == 0


def test_the_same_approver_twice_is_refused(grant_request, approver_a):
    approve(grant_request, approver_a)
    refused(lambda: approve(grant_request, approver_a), "already decided")
    refused(lambda: deny(grant_request, approver_a), "already decided")
    assert Decision.objects.count() == 1
    grant_request.refresh_from_db()
    assert grant_request.status == "pending"


def test_an_approver_without_permission_on_that_agent_is_refused(grant_request, agent):
    other_agent = AgentFactory(slug="other-agent")
    narrow = make_approver("narrow", global_perm=False)
    assign_perm("registry.approve_agent", narrow, other_agent)
    refused(lambda: approve(grant_request, narrow), "not an approver for Support Triage")
    # A role without the approve permission is refused too, and so is the permission without the role.
    no_perm = UserFactory(username="noperm", roles=[roles.APPROVER])
    refused(lambda: approve(grant_request, no_perm), "not an approver")
    no_role = UserFactory(username="norole")
    assign_perm("registry.approve_agent", no_role)
    refused(lambda: approve(grant_request, no_role), "not an approver")
    assert Decision.objects.count() == 0


def test_a_per_agent_approver_may_decide_for_that_agent(grant_request, agent):
    scoped = make_approver("scoped", global_perm=False)
    assign_perm("registry.approve_agent", scoped, agent)
    approve(grant_request, scoped)
    assert Decision.objects.filter(approver=scoped).count() == 1


def test_a_decision_after_expiry_is_refused(grant_request, approver_a):
    ApprovalRequest.objects.filter(pk=grant_request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused(lambda: approve(grant_request, approver_a), "expired")
    assert Decision.objects.count() == 0


def test_approvals_before_a_payload_change_no_longer_count(grant_request, approver_a, approver_b, owner_user):
    old_hash = grant_request.payload_hash
    approve(grant_request, approver_a)
    revised = services.request_payload_revise(
        request_id=grant_request.pk,
        actor=owner_user,
        payload={"tool": "payments.refund", "constraints": {"max_amount_usd": 500}},
    )
    assert revised.payload_hash != old_hash
    # B approves the new payload: only one approval is bound to it, so nothing is applied.
    approve(grant_request, approver_b)
    req = ApprovalRequest.objects.get(pk=grant_request.pk)
    assert req.status == "pending"
    tally = services.approvals_tally(req)
    assert tally.count == 1 and len(tally.stale_approvals) == 1
    assert tally.summary.startswith("1 of 2 approvals")
    # A decision made against the old hash is refused with a clear sentence.
    approver_c = make_approver("carol")
    refused(lambda: approve(grant_request, approver_c, payload_hash=old_hash), "payload changed since you loaded it")


def test_one_deny_after_one_approval_ends_the_request(grant_request, approver_a, approver_b, approver_c, agent):
    approve(grant_request, approver_a)
    deny(grant_request, approver_b)
    grant_request.refresh_from_db()
    assert grant_request.status == "denied"
    refused(lambda: approve(grant_request, approver_c), "already decided")
    assert agent.versions.count() == 1  # no grant version was made


def test_an_applied_request_cannot_be_applied_again(grant_request, approver_a, approver_b, approver_c, agent):
    approve(grant_request, approver_a)
    approve(grant_request, approver_b)
    grant_request.refresh_from_db()
    assert grant_request.status == "applied"
    assert agent.versions.count() == 2
    refused(lambda: services.request_apply(request_id=grant_request.pk, actor=approver_a), "already applied")
    refused(lambda: approve(grant_request, approver_c), "already decided")
    assert agent.versions.count() == 2
    assert Decision.objects.filter(request=grant_request).count() == 2


def test_a_blank_reason_is_refused(grant_request, approver_a):
    refused(lambda: approve(grant_request, approver_a, reason="   "), "A reason is required")
    assert Decision.objects.count() == 0


def test_an_unknown_request_is_refused(approver_a):
    refused(
        lambda: services.decision_record(
            request_id=999999, approver=approver_a, verdict="approve", reason="ok", payload_hash="0" * 64
        ),
        "no approval request #999999",
    )


# --- effects ------------------------------------------------------------------------------------


def test_a_tool_grant_is_applied_as_a_new_deployed_version(grant_request, approver_a, approver_b, agent, deployed):
    approve(grant_request, approver_a)
    approve(grant_request, approver_b)
    new = agent.deployed_version
    assert new.label == "1.0+g1"
    assert sorted(g.tool.name for g in new.grants.all()) == ["kb.search", "payments.refund"]
    assert new.grants.get(tool__name="payments.refund").constraints == {"max_amount_usd": 50}
    deployed.refresh_from_db()
    assert deployed.state == VersionState.SUPERSEDED


def test_go_live_deploys_and_supersedes(agent, deployed, owner_user, approver_a, approver_b, board_member):
    v2 = AgentVersionFactory(agent=agent, label="2.0", state=VersionState.APPROVED)
    req = services.change_request_create(
        agent=agent, kind="go_live", payload={"version": "2.0"}, requester=owner_user, justification="Ship it."
    )
    assert [i.key for i in req.checklist.all()] == ["privacy", "security", "eval_threshold", "cost_budget"]
    approve(req, approver_a)
    approve(req, approver_b)
    req.refresh_from_db()
    assert req.status == "approved" and "Checklist items open" in req.blocked_reason
    for key in ["privacy", "security", "eval_threshold"]:
        services.checklist_item_tick(request_id=req.pk, key=key, user=board_member, evidence="https://wiki/x")
    v2.refresh_from_db()
    assert v2.state == VersionState.APPROVED  # one item still open: nothing applied
    services.checklist_item_tick(request_id=req.pk, key="cost_budget", user=approver_a, evidence="Budget ok.")
    req.refresh_from_db()
    v2.refresh_from_db()
    deployed.refresh_from_db()
    assert req.status == "applied" and req.blocked_reason == ""
    assert v2.state == VersionState.DEPLOYED and deployed.state == VersionState.SUPERSEDED


def test_go_live_of_a_never_deployed_agent_sets_production_and_first_go_live(agent, owner_user, approver_a):
    ApprovalPolicy.objects.filter(risk_tier=3, kind="").update(required_approvals=1)
    agent.risk_tier = 3
    agent.status = "pilot"
    agent.save()
    AgentVersionFactory(agent=agent, label="1.0", state=VersionState.APPROVED)
    req = services.change_request_create(
        agent=agent, kind="go_live", payload={"version": "1.0"}, requester=owner_user, justification="Go."
    )
    for key in ["privacy", "security", "eval_threshold", "cost_budget"]:
        services.checklist_item_tick(request_id=req.pk, key=key, user=approver_a, evidence="done")
    approve(req, approver_a)
    agent.refresh_from_db()
    assert agent.status == "production" and agent.deployed_at is not None
    assert agent.next_review_due is not None


def test_new_version_becomes_approved(agent, owner_user, approver_a, approver_b):
    v = AgentVersionFactory(agent=agent, label="2.0")
    req = services.change_request_create(
        agent=agent, kind="new_version", payload={"version": "2.0"}, requester=owner_user, justification="Model swap."
    )
    for key in ["privacy", "security", "eval_threshold", "cost_budget"]:
        services.checklist_item_tick(request_id=req.pk, key=key, user=approver_a, evidence="ok")
    approve(req, approver_a)
    approve(req, approver_b)
    v.refresh_from_db()
    assert v.state == VersionState.APPROVED and v.approved_at is not None


def test_a_denied_new_version_returns_to_draft(agent, owner_user, approver_a):
    v = AgentVersionFactory(agent=agent, label="2.0")
    req = services.change_request_create(
        agent=agent, kind="new_version", payload={"version": "2.0"}, requester=owner_user, justification="x"
    )
    v.refresh_from_db()
    assert v.state == VersionState.IN_REVIEW
    deny(req, approver_a)
    v.refresh_from_db()
    assert v.state == VersionState.DRAFT


def test_rollout_step_sets_the_canary_through_the_controls_service(agent, deployed, owner_user, approver_a, approver_b):
    AgentVersionFactory(agent=agent, label="2.0", state=VersionState.APPROVED)
    revision = agent.controls_revision
    req = services.change_request_create(
        agent=agent,
        kind="rollout_step",
        payload={"version": "2.0", "share_pct": 25},
        requester=owner_user,
        justification="Canary.",
    )
    approve(req, approver_a)
    approve(req, approver_b)
    agent.refresh_from_db()
    assert agent.canary_version.label == "2.0" and agent.canary_share_pct == Decimal("25.00")
    assert agent.controls_revision == revision + 1


def test_retirement_retires_and_turns_side_effects_off(agent, deployed, owner_user, approver_a, approver_b):
    req = services.change_request_create(
        agent=agent, kind="retirement", payload={}, requester=owner_user, justification="Replaced."
    )
    approve(req, approver_a)
    approve(req, approver_b)
    agent.refresh_from_db()
    assert agent.status == "retired" and agent.side_effects_enabled is False


def test_reenabling_side_effects_needs_two_even_on_tier_3(agent, operator_user, approver_a, approver_b):
    agent.risk_tier = 3
    agent.side_effects_enabled = False
    agent.save()
    ApprovalPolicy.objects.filter(kind="reenable_side_effects").delete()  # the floor is in code too
    req = services.change_request_create(
        agent=agent,
        kind="reenable_side_effects",
        payload={},
        requester=operator_user,
        justification="Incident mitigated.",
    )
    assert req.policy_snapshot["required_approvals"] == 2
    approve(req, approver_a)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is False
    approve(req, approver_b)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is True


def test_tier_change_uses_the_stricter_tier_and_changes_the_tier(agent, owner_user, approver_a, approver_b):
    agent.risk_tier = 3
    agent.save()
    req = services.change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 2}, requester=owner_user, justification="Now writes."
    )
    assert req.policy_snapshot["required_approvals"] == 2  # tier 2's rule, not tier 3's
    approve(req, approver_a)
    approve(req, approver_b)
    agent.refresh_from_db()
    assert agent.risk_tier == 2


def test_tier_1_needs_a_board_member_outside_the_owning_team(agent, deployed, refund_tool, owner_user, approver_a):
    agent.risk_tier = 1
    agent.save()
    inside = UserFactory(username="insider", roles=[roles.GOVERNANCE_BOARD])
    agent.owner_team.members.add(inside)
    outside = UserFactory(username="outsider-board", roles=[roles.GOVERNANCE_BOARD])
    req = services.change_request_create(
        agent=agent, kind="tool_grant", payload={"tool": "payments.refund"}, requester=owner_user, justification="x"
    )
    approve(req, approver_a)
    approve(req, inside)
    req.refresh_from_db()
    assert req.status == "pending"
    assert "still needs a governance-board member" in services.approvals_tally(req).summary
    approve(req, outside)
    req.refresh_from_db()
    assert req.status == "applied"


def test_tier_1_go_live_needs_executive_sign_off_by_an_executive(agent, owner_user, approver_a, executive):
    agent.risk_tier = 1
    agent.save()
    AgentVersionFactory(agent=agent, label="2.0", state=VersionState.APPROVED)
    req = services.change_request_create(
        agent=agent, kind="go_live", payload={"version": "2.0"}, requester=owner_user, justification="x"
    )
    keys = list(req.checklist.values_list("key", flat=True))
    assert keys[-4:] == ["legal", "compliance", "red_team", "executive_signoff"]
    refused(
        lambda: services.checklist_item_tick(
            request_id=req.pk, key="executive_signoff", user=approver_a, evidence="ok"
        ),
        "Only an executive",
    )
    item = services.checklist_item_tick(request_id=req.pk, key="executive_signoff", user=executive, evidence="Signed.")
    assert item.done and item.ticked_by == executive


# --- gates, checklist, withdraw, expiry ----------------------------------------------------------


def test_an_apply_gate_blocks_until_it_clears(grant_request, approver_a, approver_b, agent):
    from approvals.extensions import apply_gates
    from tests.approvals import hooks

    hooks.GATE_REASON["value"] = "Postmortem action item #7 is overdue."
    try:
        with apply_gates.override(hooks.gate_from_flag):
            approve(grant_request, approver_a)
            approve(grant_request, approver_b)
            grant_request.refresh_from_db()
            assert grant_request.status == "approved"
            assert grant_request.blocked_reason == "Postmortem action item #7 is overdue."
            assert agent.versions.count() == 1
            assert services.requests_retry_blocked() == 0
            hooks.GATE_REASON["value"] = None
            req = services.request_apply(request_id=grant_request.pk, actor=approver_a)
            assert req.status == "applied" and req.blocked_reason == ""
            assert agent.versions.count() == 2
    finally:
        hooks.GATE_REASON["value"] = None


def test_checklist_ticks_are_refused_for_bad_input(agent, owner_user, approver_a):
    AgentVersionFactory(agent=agent, label="2.0")
    req = services.change_request_create(
        agent=agent, kind="new_version", payload={"version": "2.0"}, requester=owner_user, justification="x"
    )
    refused(
        lambda: services.checklist_item_tick(request_id=req.pk, key="privacy", user=owner_user, evidence="me"),
        "someone else must tick",
    )
    refused(
        lambda: services.checklist_item_tick(request_id=req.pk, key="privacy", user=approver_a, evidence=" "),
        "Evidence is required",
    )
    refused(
        lambda: services.checklist_item_tick(request_id=req.pk, key="legal", user=approver_a, evidence="x"),
        "no checklist item 'legal'",
    )
    services.checklist_item_tick(request_id=req.pk, key="privacy", user=approver_a, evidence="DPIA-12")
    refused(
        lambda: services.checklist_item_tick(request_id=req.pk, key="privacy", user=approver_a, evidence="again"),
        "already ticked",
    )
    assert ChecklistItem.objects.filter(request=req, done=True).count() == 1


def test_the_requester_may_withdraw_and_nobody_else(grant_request, owner_user, approver_a):
    refused(lambda: services.request_withdraw(request_id=grant_request.pk, actor=approver_a), "Only the requester")
    services.request_withdraw(request_id=grant_request.pk, actor=owner_user)
    grant_request.refresh_from_db()
    assert grant_request.status == "withdrawn"
    refused(lambda: approve(grant_request, approver_a), "withdrawn")


def test_expiry_is_idempotent(grant_request, approver_a):
    later = timezone.now() + timedelta(days=15)
    assert services.requests_expire(now=later) == 1
    assert services.requests_expire(now=later) == 0
    grant_request.refresh_from_db()
    assert grant_request.status == "expired" and grant_request.decided_at is not None
    refused(lambda: approve(grant_request, approver_a), "expired")


def test_expiry_leaves_fresh_requests_alone(grant_request):
    assert services.requests_expire() == 0
    grant_request.refresh_from_db()
    assert grant_request.status == "pending"


# --- e-mail ---------------------------------------------------------------------------------------


def test_eligible_approvers_are_emailed_with_a_link(
    django_capture_on_commit_callbacks, settings, agent, deployed, refund_tool, owner_user, approver_a, approver_b
):
    settings.QUORUM_BASE_URL = "https://quorum.example.com"
    UserFactory(username="nobody", roles=[roles.EXECUTIVE])
    with django_capture_on_commit_callbacks(execute=True):
        req = services.change_request_create(
            agent=agent, kind="tool_grant", payload={"tool": "payments.refund"}, requester=owner_user, justification="x"
        )
    to = sorted(m.to[0] for m in mail.outbox)
    assert to == ["alice@example.test", "bob@example.test"]
    assert f"https://quorum.example.com/approvals/{req.pk}/" in mail.outbox[0].body
    assert "owner@example.test" not in to


def test_the_requester_is_emailed_the_outcome(
    django_capture_on_commit_callbacks, grant_request, approver_a, approver_b, owner_user
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve(grant_request, approver_a)
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        approve(grant_request, approver_b, reason="Fine by me.")
    assert [m.to for m in mail.outbox] == [[owner_user.email]]
    assert "applied" in mail.outbox[0].subject
    assert "Fine by me." in mail.outbox[0].body


# --- immutability ----------------------------------------------------------------------------------


def test_decisions_cannot_be_edited_or_deleted_through_the_model(grant_request, approver_a):
    from django.db import DatabaseError, connection, transaction

    d = approve(grant_request, approver_a, reason="Original reason.")
    d.reason = "Rewritten"
    with pytest.raises(ValidationError):
        d.save()
    with pytest.raises(ValidationError):
        d.delete()
    with pytest.raises(ValidationError):
        Decision.objects.filter(pk=d.pk).update(reason="x")
    with pytest.raises(ValidationError):
        Decision.objects.filter(pk=d.pk).delete()
    # Raw SQL meets the database trigger.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE approvals_decision SET reason = 'x' WHERE id = %s", [d.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM approvals_decision WHERE id = %s", [d.pk])
    assert Decision.objects.get(pk=d.pk).reason == "Original reason."


def test_every_transition_is_in_the_audit_trail_and_timeline(grant_request, approver_a, approver_b, owner_user):
    from auditlog.models import LogEntry

    from approvals.selectors import request_timeline

    approve(grant_request, approver_a, reason="Limit is sane.")
    approve(grant_request, approver_b, reason="Agreed.")
    entries = LogEntry.objects.get_for_object(grant_request)
    statuses = [
        e.changes_dict["status"][1] for e in entries if e.action == e.Action.UPDATE and "status" in e.changes_dict
    ]
    assert sorted(statuses) == ["applied", "approved"]
    events = request_timeline(grant_request)
    texts = [(e.who, e.text) for e in events]
    assert texts[0] == (owner_user.get_full_name(), "requested: Tool grant or scope expansion")
    assert (approver_a.get_full_name(), "approved") in texts
    assert (approver_b.get_full_name(), "approved") in texts
    assert texts[-1][1] == "applied the change"


def test_version_frozen_after_request(agent, owner_user):
    v = AgentVersionFactory(agent=agent, label="3.0")
    services.change_request_create(
        agent=agent, kind="new_version", payload={"version": "3.0"}, requester=owner_user, justification="x"
    )
    v = AgentVersion.objects.get(pk=v.pk)
    v.model_name = "other"
    with pytest.raises(ValidationError):
        v.save()
