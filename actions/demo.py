"""Demo data of the action gate for ``manage.py seed_demo``: the "Support manager" group with
two members, the seeded ``payments.refund`` policy (and two more), and a few action requests
made through the real gate. Idempotent: groups, users and policies are only created if
missing; the requests reuse fixed idempotency keys, so a second run replays them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError

from approvals.exceptions import ApprovalError
from approvals.services import change_request_create, decision_record
from registry.models import Agent, Tool
from registry.roles import APPROVER, ROLE_PERMISSIONS

from .choices import ActionStatus, DecisionSource
from .models import ActionRequest, PolicyShadow
from .services import (
    ActionConflict,
    ActionInputError,
    action_effective_status,
    action_request_submit,
    policy_current,
    policy_version_create,
)

SUPPORT_MANAGER = "Support manager"
DEMO_PASSWORD = "quorum-demo"
SUPPORT_MANAGERS = [("support1", "Sam", "Sterling"), ("support2", "Priya", "Patel")]

REFUND_FIELDS = """\
amount_usd: decimal
customer_tier: enum(standard, pro, enterprise)
order_id: string optional
reason: string optional
card_number: string optional
bank_account: string optional"""

REFUND_RULES = """\
# A refund is a positive amount.
deny "A refund amount must be positive." if amount_usd <= 0
# Small refunds for standard and pro customers go straight through.
allow if amount_usd <= 50 and customer_tier in ['standard', 'pro']
# Enterprise customers get up to 200 USD without waiting.
allow if amount_usd <= 200 and customer_tier == 'enterprise'
# Everything else above 50 USD: two support managers (the two-person rule).
require 2 approvals from "Support manager" if amount_usd > 50"""

REFUND_POLICY = {
    "fields_source": REFUND_FIELDS,
    "rules_source": REFUND_RULES,
    "redact_fields": ["card_number", "bank_account"],
    "retention_days": 365,
    "note": "Seeded example: refunds within policy go through, larger ones need two support managers.",
}

OTHER_POLICIES = {
    "email.send": {
        "fields_source": "recipient_domain: string\ntemplate: enum(order_update, apology, refund_confirmation, other)\n"
        "recipients: integer\nbody: string optional",
        "rules_source": 'deny "Bulk e-mail is not allowed from an agent." if recipients > 1\n'
        "allow if template in ['order_update', 'refund_confirmation']\n"
        "require 1 approval from \"Approver\" if template == 'apology'",
        "redact_fields": ["body"],
        "retention_days": 90,
        "note": "Transactional e-mails only; apologies are read by a person first.",
    },
    "k8s.rollout_restart": {
        "fields_source": "namespace: string\ndeployment: string",
        "rules_source": "deny \"Agents never restart the payments namespace.\" if namespace == 'payments'",
        "redact_fields": [],
        "retention_days": 365,
        "note": "Production control: the tier-4 default (approval plus a change request) applies otherwise.",
    },
}

# agent, key, tool, parameters
DEMO_ACTIONS = [
    (
        "support-triage",
        "demo-refund-1",
        "payments.refund",
        {"amount_usd": 35, "customer_tier": "pro", "order_id": "A-1001"},
    ),
    (
        "support-triage",
        "demo-refund-2",
        "payments.refund",
        {"amount_usd": 120, "customer_tier": "standard", "order_id": "A-1002", "card_number": "4111 1111 1111 1111"},
    ),
    (
        "support-triage",
        "demo-refund-3",
        "payments.refund",
        {"amount_usd": -10, "customer_tier": "pro", "order_id": "A-1003"},
    ),
    ("refund-assistant", "demo-refund-4", "payments.refund", {"amount_usd": 180, "customer_tier": "enterprise"}),
    # Decided by the policy in force without people; the demo shadow would ask a support manager.
    ("refund-assistant", "demo-refund-5", "payments.refund", {"amount_usd": 150, "customer_tier": "enterprise"}),
    ("support-triage", "demo-refund-6", "payments.refund", {"amount_usd": 45, "customer_tier": "standard"}),
]

# A draft running in shadow beside the refund policy (issue 18): standard and pro refunds up to
# 100 USD without waiting, one support manager above 100 for every tier. Against the demo
# refunds it disagrees on three (120 standard, 180 and 150 enterprise) and agrees on the rest,
# so the policy page shows its disagreement table.
DEMO_SHADOW_RULES = """\
deny "A refund amount must be positive." if amount_usd <= 0
allow if amount_usd <= 100 and customer_tier in ['standard', 'pro']
require 1 approval from "Support manager" if amount_usd > 100"""
DEMO_SHADOW_NOTE = "Demo: raise the no-wait limit to 100 USD, one support manager above."
# The governance board proposes; two others of the kind's eligible roles approve.
DEMO_SHADOW_PEOPLE = ("board", ("board2", "approver", "approver2"))


# The refund waiting for the two support managers (over 50 USD, a standard customer). A runtime
# action expires minutes after it is asked, so every run of seed_demo asks again when the last
# one is no longer pending: the support managers always find one in their queue.
PENDING_DEMO_KEY = "demo-refund-2"


def _over_for_the_managers(action: ActionRequest) -> bool:
    return action_effective_status(action) == ActionStatus.EXPIRED or action.source == DecisionSource.PEOPLE


def ensure_pending_refund(stdout=None) -> ActionRequest | None:
    """Keep exactly one fresh pending refund for the support managers: nothing happens while the
    last one still waits; once it expired (or was decided) a new one is asked through the real
    gate, under the next key in the ``demo-refund-2``, ``demo-refund-2.2``, … series."""
    slug, _key, tool, params = next(a for a in DEMO_ACTIONS if a[1] == PENDING_DEMO_KEY)
    agent = Agent.objects.filter(slug=slug).first()
    if agent is None:
        return None
    asked = ActionRequest.objects.filter(agent=agent, idempotency_key__startswith=PENDING_DEMO_KEY)
    latest = asked.order_by("-created_at").first()
    # Ask again only when the last one is over for the support managers: expired, or decided by
    # them. Anything else (still waiting, or refused by a pulled kill switch) stays as it is, so
    # that re-running seed_demo changes nothing.
    if latest is not None and not _over_for_the_managers(latest):
        return latest
    count = asked.count()
    key = PENDING_DEMO_KEY if count == 0 else f"{PENDING_DEMO_KEY}.{count + 1}"
    try:
        result = action_request_submit(agent=agent, tool_name=tool, parameters=params, idempotency_key=key)
    except (ActionInputError, ActionConflict) as exc:
        if stdout:
            stdout.write(f"  action gate: no fresh pending refund: {exc}")
        return None
    return result.action


def ensure_support_managers(password: str = DEMO_PASSWORD) -> Group:
    """The "Support manager" role: reads the registry and the approvals queue, and may decide
    (``approve_agent``) — but only requests whose policy names this group, i.e. runtime actions."""
    group, _ = Group.objects.get_or_create(name=SUPPORT_MANAGER)
    codenames = [p.split(".", 1) for p in ROLE_PERMISSIONS[APPROVER]] + [
        ["registry", "approve_agent"],
        ["approvals", "view_approvalrequest"],
        ["approvals", "view_decision"],
        ["actions", "view_actionrequest"],
        ["actions", "view_actionpolicyversion"],
    ]
    for app_label, codename in codenames:
        perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if perm is not None:
            group.permissions.add(perm)
    User = get_user_model()
    for username, first, last in SUPPORT_MANAGERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(group)
    return group


def ensure_demo_shadow(stdout=None) -> PolicyShadow | None:
    """Set the demo shadow on payments.refund the governed way: a two-person ``action_policy_shadow``
    request by the board, approved by two others (applying it starts the shadow). Once only: if
    the refund tool ever had a shadow (a person stopped or replaced it), the demo leaves it be."""
    tool = Tool.objects.filter(name="payments.refund").first()
    if tool is None or policy_current(tool=tool) is None or PolicyShadow.objects.filter(tool=tool).exists():
        return None
    users = get_user_model().objects.in_bulk([DEMO_SHADOW_PEOPLE[0], *DEMO_SHADOW_PEOPLE[1]], field_name="username")
    requester = users.get(DEMO_SHADOW_PEOPLE[0])
    try:
        req = change_request_create(
            agent=None,
            kind="action_policy_shadow",
            payload={"tool": tool.name, "rules_source": DEMO_SHADOW_RULES, "note": DEMO_SHADOW_NOTE},
            requester=requester,
            justification="See what a 100 USD no-wait limit would have decided before proposing it.",
        )
        for name in DEMO_SHADOW_PEOPLE[1]:
            req.refresh_from_db()
            if req.status != "pending" or name not in users:
                continue
            decision_record(
                request_id=req.pk,
                approver=users[name],
                verdict="approve",
                reason="Demo.",
                payload_hash=req.payload_hash,
            )
    except (ValidationError, ApprovalError) as exc:  # the demo registry changed; no shadow then
        if stdout:
            stdout.write(f"  action gate: no demo shadow: {exc}")
        return None
    return PolicyShadow.objects.filter(tool=tool, ended_at__isnull=True).first()


def seed_actions(stdout=None) -> None:
    ensure_support_managers()
    admin = get_user_model().objects.filter(username="board").first()
    policies = {"payments.refund": REFUND_POLICY, **OTHER_POLICIES}
    for name, spec in policies.items():
        tool = Tool.objects.filter(name=name).first()
        if tool is not None and policy_current(tool=tool) is None:
            policy_version_create(tool=tool, actor=admin, **spec)
    # Before the demo requests: the shadow records what it would have decided on each of them.
    ensure_demo_shadow(stdout)
    made = 0
    for slug, key, tool, params in DEMO_ACTIONS:
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None:
            continue
        try:
            result = action_request_submit(agent=agent, tool_name=tool, parameters=params, idempotency_key=key)
        except (ActionInputError, ActionConflict) as exc:
            if stdout:
                stdout.write(f"  action gate: skipped {key}: {exc}")
            continue
        made += int(result.created)
    ensure_pending_refund(stdout)
    if stdout:
        stdout.write(
            f"Action gate: {len(policies)} policies, {made} new action request(s); support managers: "
            f"{', '.join(u for u, _, _ in SUPPORT_MANAGERS)} (password {DEMO_PASSWORD!r})."
        )
