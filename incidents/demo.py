"""Demo incidents for ``manage.py seed_demo`` (idempotent: keyed by agent and title).

Two resolved-and-closed incidents with published postmortems, an open SEV2 on the paused
``churn-outreach`` agent with its kill switch pulled, and one overdue action item."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from registry.models import Agent

from . import services
from .models import ActionItem, Incident, Postmortem, TimelineEntry

PAST = [
    {
        "agent": "support-triage",
        "severity": "sev2",
        "title": "Refund tool timeouts escalated every refund to humans",
        "failure_mode": "tool_outage",
        "source": "monitoring",
        "days_ago": 41,
        "mitigate_after": timedelta(minutes=38),
        "resolve_after": timedelta(hours=5, minutes=10),
        "customer_impact": "About 310 customers waited up to 6 hours for refunds handled by people.",
        "financial_impact": Decimal("1850.00"),
        "postmortem": {
            "summary": "Stripe's refund endpoint answered in 30+ s for five hours; the agent escalated every refund.",
            "impact": "310 delayed refunds, 52 extra human handling hours.",
            "timeline": "09:02 monitor fired\n09:40 agent switched to draft-only refunds\n14:12 Stripe fixed",
            "root_cause": "The refund tool had no timeout shorter than the agent's turn budget.",
            "contributing_factors": "No circuit breaker on payments.refund; no provider status check.",
            "went_well": "Escalation summaries let people refund quickly.",
            "went_badly": "The on-call learned of the outage from customers first.",
        },
        "items": [("Add a 5 s timeout and circuit breaker to payments.refund", "owner", 30, "done")],
    },
    {
        "agent": "it-helpdesk",
        "severity": "sev1",
        "title": "Password reset issued without identity verification",
        "failure_mode": "policy_violation",
        "source": "person",
        "days_ago": 24,
        "mitigate_after": timedelta(minutes=12),
        "resolve_after": timedelta(hours=26),
        "customer_impact": "Two employee accounts were reset after a social-engineering attempt; no data accessed.",
        "financial_impact": Decimal("4200.00"),
        "postmortem": {
            "summary": "A prompt-injected ticket convinced the agent identity checks were already done.",
            "impact": "Two accounts reset, both recovered within an hour; security review required.",
            "timeline": "10:14 user reports odd reset\n10:26 kill switch pulled\nnext day: policy v2 deployed",
            "root_cause": "Identity verification was a prompt instruction, not a tool precondition.",
            "contributing_factors": "okta.reset_password had no server-side verification check.",
            "went_well": "The kill switch stopped further resets within 12 minutes.",
            "went_badly": "The ticket text was trusted as system context.",
        },
        "items": [
            ("Enforce verification as a precondition in okta.reset_password", "owner2", 10, "done"),
            ("Red-team the helpdesk prompt against ticket injection", "owner2", 6, "open"),
        ],
    },
]


def _user(username):
    return get_user_model().objects.filter(username=username).first()


@transaction.atomic
def seed_incidents(stdout=None) -> None:
    operator = _user("operator")
    if operator is None:
        return
    now = timezone.now()
    for spec in PAST:
        agent = Agent.objects.filter(slug=spec["agent"]).first()
        if agent is None or Incident.objects.filter(agent=agent, title=spec["title"]).exists():
            continue
        _seed_past(spec, agent, operator, now)
    churn = Agent.objects.filter(slug="churn-outreach").first()
    title = "Retention offers exceeded the discount policy"
    if churn is not None and not Incident.objects.filter(agent=churn, title=title).exists():
        services.incident_open_or_link(
            agent=churn,
            severity="sev2",
            title=title,
            failure_mode="policy_violation",
            detection_source="person",
            opened_by=operator,
            commander=operator,
            summary="Offers of 40 % were sent where policy allows 15 %.",
            customer_impact="23 customers received out-of-policy offers.",
        )
        services.kill_switch_pull(
            agent=churn,
            actor=operator,
            reason="Out-of-policy retention offers; stop sending until the policy check is fixed.",
        )
    if stdout is not None:
        stdout.write(f"Incidents: {Incident.objects.count()} ({ActionItem.objects.count()} action items).")


def _seed_past(spec, agent, operator, now) -> None:
    detected = now - timedelta(days=spec["days_ago"])
    incident, _ = services.incident_open_or_link(
        agent=agent,
        severity=spec["severity"],
        title=spec["title"],
        failure_mode=spec["failure_mode"],
        detection_source=spec["source"],
        opened_by=operator,
        commander=operator,
        customer_impact=spec["customer_impact"],
        financial_impact_usd=spec["financial_impact"],
    )
    services.incident_transition(incident_id=incident.pk, to_status="mitigated", note="Mitigated.", actor=operator)
    services.incident_transition(
        incident_id=incident.pk, to_status="resolved", note="Fixed and verified.", actor=operator
    )
    services.postmortem_save(incident_id=incident.pk, actor=operator, **spec["postmortem"])
    for title, owner, due_days_ago, state in spec["items"]:
        item = services.action_item_add(
            incident_id=incident.pk,
            title=title,
            owner=_user(owner),
            due_on=(now - timedelta(days=due_days_ago)).date(),
            actor=operator,
        )
        if state != "open":
            services.action_item_update(item_id=item.pk, state=state, actor=operator)
    services.postmortem_publish(incident_id=incident.pk, actor=operator)
    services.incident_transition(
        incident_id=incident.pk, to_status="closed", note="Postmortem published.", actor=operator
    )
    # Demo history: move the record into the past (the stored durations stay realistic).
    resolved = detected + spec["resolve_after"]
    Incident.objects.filter(pk=incident.pk).update(
        detected_at=detected,
        mitigated_at=detected + spec["mitigate_after"],
        resolved_at=resolved,
        closed_at=resolved + timedelta(hours=50),
    )
    Postmortem.objects.filter(incident=incident).update(published_at=resolved + timedelta(hours=48))
    offset = now - detected
    for entry in TimelineEntry.objects.filter(incident=incident):
        TimelineEntry.objects.filter(pk=entry.pk).update(at=entry.at - offset)
