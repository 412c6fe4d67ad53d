"""Decisions on the audit chain (issue 15, item 1).

A decision on a change request or an action request (one engine: both are ``ApprovalRequest``)
is chained as ``decision.<verdict>`` with every concrete field of the ``Decision`` row in the
payload, read from the model's fields rather than listed here, so a field added later (for
example the approver's authentication assurance) is chained without touching this module."""

from __future__ import annotations

from registry.audit_chain import chain_append

from .models import ApprovalRequest, Decision


def decision_payload(decision: Decision) -> dict:
    """Every concrete field of the row, by column name (``request_id``, ``approver_id``…)."""
    return {field.attname: getattr(decision, field.attname) for field in decision._meta.concrete_fields}


def chain_decision(sender, instance: Decision, created: bool, **kwargs) -> None:
    """``post_save`` of ``Decision``: decisions are append-only, so only creation is chained."""
    if not created:
        return
    request = instance.request if Decision.request.is_cached(instance) else None
    agent_id = (
        request.agent_id
        if request is not None
        else ApprovalRequest.objects.filter(pk=instance.request_id).values_list("agent_id", flat=True).first()
    )
    chain_append(
        action=f"decision.{instance.verdict}",
        actor=instance.approver,
        agent=agent_id,
        obj=instance,
        summary=f"{instance.approver} {instance.verdict}d request #{instance.request_id}: {instance.reason}"[:500],
        payload=decision_payload(instance),
    )
