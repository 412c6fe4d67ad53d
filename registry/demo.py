"""Demo data for ``manage.py seed_demo``: realistic, deterministic and idempotent.

Other apps extend the demo through :data:`registry.extensions.demo_seeders` — callables
``(stdout) -> None`` run after the registry is seeded, each idempotent itself."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from . import roles
from .canonical import tool_definition_hash
from .choices import ScopeKind, VersionState
from .models import Agent, AgentVersion, GlobalControls, Scope, Team, Tool, ToolGrant, ToolPin
from .services import agent_grant_owner_rights, version_create

DEMO_PASSWORD = "quorum-demo"

# username, first, last, role (None = superuser), teams
DEMO_USERS = [
    ("admin", "Ada", "Admin", None, []),
    ("board", "Grace", "Hopper", roles.GOVERNANCE_BOARD, ["governance"]),
    ("board2", "Barbara", "Liskov", roles.GOVERNANCE_BOARD, ["governance"]),
    ("approver", "Alan", "Turing", roles.APPROVER, ["finance-ops"]),
    ("approver2", "Katherine", "Johnson", roles.APPROVER, ["it-ops"]),
    ("owner", "Olivia", "Owens", roles.AGENT_OWNER, ["customer-support"]),
    ("owner2", "Omar", "Haddad", roles.AGENT_OWNER, ["it-ops", "sales"]),
    ("operator", "Oscar", "Ops", roles.OPERATOR, ["platform"]),
    ("executive", "Evelyn", "Exec", roles.EXECUTIVE, []),
    ("auditor", "Audrey", "Audit", roles.AUDITOR, []),
]

TEAMS = [
    ("customer-support", "Customer Support"),
    ("commerce", "Commerce & Orders"),
    ("it-ops", "IT Operations"),
    ("legal", "Legal"),
    ("sales", "Sales"),
    ("knowledge", "Knowledge Management"),
    ("finance-ops", "Finance Operations"),
    ("platform", "AI Platform"),
    ("governance", "AI Governance Board"),
]

SCOPES = [
    ("Zendesk tickets", ScopeKind.DATA_SOURCE),
    ("Order database", ScopeKind.DATA_SOURCE),
    ("Customer profiles (PII)", ScopeKind.DATA_SOURCE),
    ("Contract repository", ScopeKind.DATA_SOURCE),
    ("CRM", ScopeKind.DATA_SOURCE),
    ("Confluence", ScopeKind.DATA_SOURCE),
    ("ServiceNow", ScopeKind.DATA_SOURCE),
    ("Stripe", ScopeKind.SYSTEM),
    ("Shopify", ScopeKind.SYSTEM),
    ("Okta", ScopeKind.SYSTEM),
    ("SendGrid", ScopeKind.SYSTEM),
    ("Salesforce", ScopeKind.SYSTEM),
    ("Kubernetes", ScopeKind.SYSTEM),
]

# name, system, action tier, idempotent, dry run, description
TOOLS = [
    ("kb.search", "Confluence", 0, True, False, "Search the internal knowledge base."),
    ("orders.lookup", "Shopify", 0, True, False, "Read an order and its shipment status."),
    ("tickets.read", "Zendesk", 0, True, False, "Read a support ticket and its thread."),
    ("crm.read", "Salesforce", 0, True, False, "Read an account, contact or opportunity."),
    ("contracts.read", "Contract repository", 0, True, False, "Read a contract document."),
    ("email.draft", "SendGrid", 1, True, True, "Draft an e-mail for a human to send."),
    ("tickets.reply", "Zendesk", 2, False, True, "Post a reply on a support ticket."),
    ("tickets.update", "Zendesk", 2, True, True, "Change a ticket's status, tags or assignee."),
    ("orders.create_return", "Shopify", 2, True, True, "Open a return authorization for an order."),
    ("email.send", "SendGrid", 3, False, True, "Send an e-mail to a customer."),
    ("payments.refund", "Stripe", 3, False, True, "Refund a charge, fully or in part."),
    ("okta.reset_password", "Okta", 3, False, False, "Reset a user's password and expire sessions."),
    ("crm.update_opportunity", "Salesforce", 2, True, True, "Update an opportunity's stage or amount."),
    ("k8s.rollout_restart", "Kubernetes", 4, False, True, "Restart a production deployment."),
]

# MCP tools the agents' versions were approved with (name, description, input schema): the support
# agent's payments.refund exactly as the sample upstream MCP server of `make run` serves it
# (quorum_mcp.sample_upstream; tests/mcp/test_demo.py checks that they agree), so the README's
# gateway demo passes it through, and an upstream serving another description is hidden.
DEMO_MCP_PINS = {
    "support-triage": [
        (
            "payments.refund",
            "Refund an order to the customer's original payment method.",
            {
                "properties": {
                    "amount_usd": {"title": "Amount Usd", "type": "number"},
                    "customer_tier": {"title": "Customer Tier", "type": "string"},
                    "order_id": {"title": "Order Id", "type": "string"},
                },
                "required": ["amount_usd", "customer_tier", "order_id"],
                "title": "refundArguments",
                "type": "object",
            },
        )
    ]
}

# slug, name, team, owner, tier, status, purpose, unit, kpi, baseline, channels, classification,
# sources, systems, budget, human cost/min, human minutes/unit, tools of the deployed version, days live
AGENTS = [
    (
        "support-triage",
        "Customer Support Triage",
        "customer-support",
        "owner",
        1,
        "production",
        "Resolves tier-1 customer support tickets end to end: answers questions, issues refunds within policy "
        "and escalates the rest to a human with a summary.",
        "ticket resolved",
        "first-contact resolution",
        "0.62",
        ["chat", "email"],
        "regulated",
        ["Zendesk tickets", "Customer profiles (PII)", "Order database"],
        ["Stripe", "SendGrid"],
        "18000",
        "0.80",
        "11",
        ["tickets.read", "tickets.reply", "orders.lookup", "payments.refund", "email.send"],
        200,
    ),
    (
        "refund-assistant",
        "Refund Assistant",
        "finance-ops",
        "owner",
        1,
        "pilot",
        "Reviews refund requests against policy and prepares or executes refunds for approved cases.",
        "refund decided",
        "refund cycle time (hours)",
        "26",
        ["internal"],
        "regulated",
        ["Order database", "Customer profiles (PII)"],
        ["Stripe"],
        "6000",
        "0.90",
        "14",
        ["orders.lookup", "payments.refund"],
        45,
    ),
    (
        "it-helpdesk",
        "IT Helpdesk",
        "it-ops",
        "owner2",
        2,
        "production",
        "Answers employee IT questions and resets passwords after identity verification.",
        "request resolved",
        "tickets deflected",
        "0.35",
        ["chat"],
        "internal",
        ["ServiceNow", "Confluence"],
        ["Okta"],
        "4000",
        "0.60",
        "9",
        ["kb.search", "okta.reset_password", "tickets.update"],
        320,
    ),
    (
        "order-status",
        "Order Status & Returns",
        "commerce",
        "owner",
        2,
        "production",
        "Tells customers where their order is and opens returns within the returns policy.",
        "order inquiry resolved",
        "containment rate",
        "0.55",
        ["chat", "voice"],
        "confidential",
        ["Order database"],
        ["Shopify"],
        "7000",
        "0.70",
        "6",
        ["orders.lookup", "orders.create_return", "tickets.reply"],
        400,
    ),
    (
        "contract-clauses",
        "Contract Clause Extraction",
        "legal",
        "owner2",
        2,
        "production",
        "Extracts key clauses (term, liability cap, renewal) from supplier contracts into the contract register.",
        "contract abstracted",
        "hours per contract",
        "2.5",
        ["batch"],
        "confidential",
        ["Contract repository"],
        [],
        "2500",
        "1.50",
        "45",
        ["contracts.read"],
        150,
    ),
    (
        "sales-leads",
        "Sales Lead Drafting",
        "sales",
        "owner2",
        3,
        "production",
        "Drafts first-touch e-mails for inbound leads for a sales rep to review and send.",
        "lead e-mail drafted",
        "reply rate",
        "0.08",
        ["email"],
        "internal",
        ["CRM"],
        ["Salesforce"],
        "1500",
        "0.85",
        "12",
        ["crm.read", "email.draft"],
        250,
    ),
    (
        "knowledge-search",
        "Internal Knowledge Search",
        "knowledge",
        "owner2",
        3,
        "production",
        "Answers employees' questions from the internal wiki with citations.",
        "question answered",
        "search success",
        "0.40",
        ["chat", "internal"],
        "internal",
        ["Confluence"],
        [],
        "1200",
        "0.60",
        "7",
        ["kb.search"],
        500,
    ),
    (
        "invoice-matching",
        "Invoice Matching",
        "finance-ops",
        "owner",
        2,
        "pilot",
        "Matches supplier invoices to purchase orders and flags mismatches for accounts payable.",
        "invoice matched",
        "touchless match rate",
        "0.30",
        ["batch"],
        "confidential",
        ["Order database"],
        [],
        "2000",
        "0.70",
        "8",
        ["orders.lookup"],
        20,
    ),
    (
        "sre-runbook",
        "SRE Runbook Assistant",
        "platform",
        "owner2",
        1,
        "pilot",
        "Follows on-call runbooks for known alerts and, with approval, restarts unhealthy deployments.",
        "alert handled",
        "mean time to mitigate (min)",
        "38",
        ["internal"],
        "internal",
        ["Confluence"],
        ["Kubernetes"],
        "3000",
        "1.20",
        "25",
        ["kb.search", "k8s.rollout_restart"],
        30,
    ),
    (
        "churn-outreach",
        "Churn Outreach",
        "customer-support",
        "owner",
        2,
        "paused",
        "Writes retention offers for customers likely to churn; paused after an offer-policy incident.",
        "offer sent",
        "retained revenue (USD)",
        "12000",
        ["email"],
        "confidential",
        ["CRM", "Customer profiles (PII)"],
        ["SendGrid"],
        "2500",
        "0.80",
        "10",
        ["crm.read", "email.send"],
        120,
    ),
    (
        "hr-policy-qa",
        "HR Policy Q&A",
        "knowledge",
        "owner2",
        3,
        "proposed",
        "Answers employee questions about leave, benefits and expenses from the HR handbook.",
        "question answered",
        "HR tickets avoided",
        "0",
        ["chat"],
        "internal",
        ["Confluence"],
        [],
        "800",
        "0.65",
        "6",
        [],
        None,
    ),
    (
        "vendor-onboarding",
        "Vendor Onboarding",
        "finance-ops",
        "owner",
        3,
        "retired",
        "Collected vendor tax forms and bank details; replaced by the procurement suite.",
        "vendor onboarded",
        "days to onboard",
        "9",
        ["email"],
        "confidential",
        ["CRM"],
        [],
        "0",
        "0.70",
        "30",
        ["crm.read"],
        600,
    ),
    (
        "meeting-notes",
        "Meeting Notes Summarizer",
        "knowledge",
        "owner2",
        3,
        "production",
        "Summarizes internal meetings and files action items into the team tracker.",
        "meeting summarized",
        "minutes saved per meeting",
        "12",
        ["internal"],
        "internal",
        ["Confluence"],
        [],
        "900",
        "0.60",
        "15",
        ["kb.search"],
        365,
    ),
]


def _prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def demo_version_after(stable: AgentVersion, *, label: str, changelog: str, created_by) -> AgentVersion:
    """The demo's next version of ``stable``'s agent, made as a user makes one
    (``registry.services.version_create``, a draft): the same model, policy and tool grants, and
    the demo's prompt reference for ``label``. The demos of rollouts and compliance build on it."""
    return version_create(
        agent=stable.agent,
        label=label,
        model_provider=stable.model_provider,
        model_name=stable.model_name,
        prompt_ref=_prompt_hash(f"{stable.agent.slug} system prompt v{label}"),
        policy_version=stable.policy_version,
        changelog=changelog,
        tools={g.tool: g.constraints for g in stable.grants.select_related("tool")},
        created_by=created_by,
    )


def _users() -> dict:
    User = get_user_model()
    users = {}
    for username, first, last, role, _teams in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@quorum.example",
                "is_staff": role is None,
                "is_superuser": role is None,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role:
            user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


@transaction.atomic
def seed_registry(now: datetime | None = None) -> dict:
    """Create the demo teams, users, tools and agents if they are missing. Existing rows
    are left exactly as they are, so running it twice changes nothing."""
    now = now or timezone.now()
    users = _users()
    teams = {}
    for slug, name in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
    for username, _first, _last, _role, team_slugs in DEMO_USERS:
        for slug in team_slugs:
            teams[slug].members.add(users[username])
    scopes = {name: Scope.objects.get_or_create(name=name, defaults={"kind": kind})[0] for name, kind in SCOPES}
    tools = {}
    for name, system, tier, idem, dry, desc in TOOLS:
        tools[name], _ = Tool.objects.get_or_create(
            name=name,
            defaults={
                "system": system,
                "action_tier": tier,
                "idempotent": idem,
                "supports_dry_run": dry,
                "description": desc,
                "constraint_schema": _constraint_schema_for(name),
            },
        )
        if not tools[name].constraint_schema:
            # A demo database seeded before constraints were typed: declare what its grants use,
            # or the gate would refuse every action under them (a constraint it cannot read).
            tools[name].constraint_schema = _constraint_schema_for(name)
            tools[name].save(update_fields=["constraint_schema"])
    GlobalControls.load()

    # The second approver decides only for IT and platform agents (a per-agent object permission);
    # the first holds the right for every agent.
    assign_perm("registry.approve_agent", users["approver"])

    for (
        slug,
        name,
        team,
        owner,
        tier,
        status,
        purpose,
        unit,
        kpi,
        baseline,
        channels,
        classification,
        sources,
        systems,
        budget,
        cost_min,
        minutes,
        tool_names,
        days_live,
    ) in AGENTS:
        agent, created = Agent.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "owner_team": teams[team],
                "owner": users[owner],
                "sponsor": users["executive"],
                "risk_tier": tier,
                "status": status,
                "purpose": purpose,
                "unit_of_work": unit,
                "kpi_name": kpi,
                "kpi_baseline": Decimal(baseline),
                "channels": channels,
                "data_classification": classification,
                "monthly_budget_usd": Decimal(budget),
                # Budgets that act, as the seeds suggest: a hard cap above the soft one, 20 steps and
                # 5 USD per session.
                "budget_hard_cap_usd": (Decimal(budget) * 2).quantize(Decimal("1")),
                "budget_session_steps": 20,
                "budget_session_cost_usd": Decimal("5"),
                "human_cost_per_minute_usd": Decimal(cost_min),
                "human_minutes_per_unit": Decimal(minutes),
                "monthly_infra_cost_usd": (Decimal(budget) * Decimal("0.15")).quantize(Decimal("1")),
                "monthly_ops_cost_usd": (Decimal(budget) * Decimal("0.25")).quantize(Decimal("1")),
                "deployed_at": (now - timedelta(days=days_live)) if days_live else None,
                "last_reviewed_on": (
                    (now - timedelta(days=days_live // 2)).date() if days_live and days_live > 180 else None
                ),
            },
        )
        if not created:
            continue
        agent.data_sources.set([scopes[s] for s in sources])
        agent.systems.set([scopes[s] for s in systems])
        agent_grant_owner_rights(agent=agent)
        if team in ("it-ops", "platform"):
            assign_perm("approve_agent", users["approver2"], agent)
        _seed_versions(agent, [tools[t] for t in tool_names], users[owner], now, days_live)
    return users


def _seed_versions(agent: Agent, tools: list[Tool], owner, now: datetime, days_live: int | None) -> None:
    provider, model = ("openai", "gpt-4o-2024-08-06") if agent.risk_tier == 1 else ("anthropic", "claude-3-5-sonnet")
    labels = ["1.0", "1.1"] if days_live else ["0.1"]
    for index, label in enumerate(labels):
        version = AgentVersion.objects.create(
            agent=agent,
            label=label,
            model_provider=provider,
            model_name=model,
            prompt_ref=_prompt_hash(f"{agent.slug} system prompt v{label}"),
            policy_version="1",
            changelog="Initial release." if index == 0 else "Tighter escalation prompt; refund wording.",
            created_by=owner,
        )
        for tool in tools:
            ToolGrant.objects.create(version=version, tool=tool, constraints=_constraints_for(tool))
        # Pins only in the version deployed last: the earlier ones were approved before MCP.
        for name, description, schema in DEMO_MCP_PINS.get(agent.slug, []) if index == len(labels) - 1 else []:
            digest = tool_definition_hash(name=name, description=description, input_schema=schema)
            ToolPin.objects.create(
                version=version, name=name, description=description, input_schema=schema, definition_hash=digest
            )
        version.refresh_bundle_digest()
        if not days_live:
            continue
        is_last = index == len(labels) - 1
        version.state = VersionState.DEPLOYED if is_last and agent.status != "retired" else VersionState.SUPERSEDED
        version.approved_at = now - timedelta(days=days_live - index * min(days_live // 2, 30) + 1)
        version.deployed_at = version.approved_at + timedelta(hours=4)
        version.save()


def _constraint_schema_for(tool_name: str) -> dict:
    """What a grant of each demo tool may limit (see registry.grant_constraints)."""
    rates = {"max_per_hour": {}, "max_per_day": {}}
    if tool_name == "payments.refund":
        return {
            "max_amount_usd": {"parameter": "amount_usd"},
            **rates,
            "allowed_values": {"fields": ["customer_tier", "currency"]},
        }
    if tool_name == "email.send":
        return {**rates, "allowed_values": {"fields": ["template"]}}
    return rates


def _constraints_for(tool: Tool) -> dict:
    # Bundle digests hash these (tests/test_digests_unchanged.py pins them). The action gate
    # enforces them: the seeded refunds (35, 120, -10 and 180 USD) stay under the cap, so the
    # pending demo refund still waits for the support managers. ``recipients`` is not a kind
    # email.send declares, so the gate refuses email.send for these grants until re-granted.
    if tool.name == "payments.refund":
        return {"max_amount_usd": 500, "currency": ["USD", "EUR"]}
    if tool.name == "email.send":
        return {"recipients": "customer_of_record_only"}
    return {}


def demo_today() -> date:
    return timezone.localdate()
