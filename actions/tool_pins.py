"""MCP tool definitions pinned in a version, and what happens when an upstream tool differs (issue 17).

The MCP gateway (``sdk/python/quorum_mcp``) fetches the deployed version's pins
(:func:`registry.selectors.tool_pins_deployed`) and hashes every upstream tool's name,
description and input schema. A tool whose hash is not pinned is hidden from the agent and
reported here: :func:`tool_definition_report` records a compliance violation and opens a
``tool_pin`` change request to pin the new definition, once per distinct definition (a gateway
that reconnects a hundred times makes one violation with a count of a hundred, and one request).

Why a request kind of its own rather than the new-version path: the gateway, not a person,
raises it; it changes one pin of the deployed version and nothing else, and it is applied the
way a tool grant is (deployed versions are frozen, so the applied pin becomes a new version,
``1.4+p1``, deployed at once: ``registry.services.version_deploy_with_pin``). A new version
would need a person to build a draft and walk the release checklist for a one-line change.
Accepting a changed tool description is exactly the "rug pull" decision, so it takes two
people other than the requester, whatever the tier's policy says."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.exceptions import ApplyBlocked
from approvals.kinds import DiffRow, KindSpec
from approvals.models import ApprovalRequest
from approvals.services import request_create
from registry import services as registry_services
from registry.canonical import canonical_json, tool_definition_hash
from registry.governance import GovernedField
from registry.models import Agent, ToolPin
from registry.services import RegistryConflict
from telemetry.choices import ViolationKind
from telemetry.services import violation_record_once

TOOL_PIN = "tool_pin"
PAYLOAD_KEYS = {"name", "description", "input_schema", "definition_hash", "base_version_id", "base_label",
                "base_digest", "new_label"}  # fmt: skip
MAX_NAME = 200
MAX_DESCRIPTION = 8000
MAX_SCHEMA_CHARS = 32_000


class PinReportError(Exception):
    """A report that cannot be taken (no deployed version); nothing was recorded."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def definition_validate(payload: dict) -> tuple[str, str, dict]:
    """``(name, description, input_schema)`` of a reported or proposed definition, or a
    ``ValidationError`` naming each bad field."""
    name, description, schema = payload.get("name"), payload.get("description", ""), payload.get("input_schema", {})
    errors = {}
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors["name"] = f"The tool's name: a non-empty string of at most {MAX_NAME} characters."
    if description is None:
        description = ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        errors["description"] = f"The tool's description: a string of at most {MAX_DESCRIPTION} characters."
    if not isinstance(schema, dict):
        errors["input_schema"] = "The tool's input schema: a JSON object."
    elif len(canonical_json(schema)) > MAX_SCHEMA_CHARS:
        errors["input_schema"] = f"The tool's input schema is limited to {MAX_SCHEMA_CHARS} characters of JSON."
    if errors:
        raise ValidationError(errors)
    return name, description, schema


# --- the request kind ------------------------------------------------------------------------------


def _normalize(agent, payload, version):
    if agent is None:
        raise ValidationError({"agent": "Name the agent whose deployed version should pin the tool."})
    if not isinstance(payload, dict) or set(payload) - PAYLOAD_KEYS:
        raise ValidationError({"payload": f"Known fields: {', '.join(sorted(PAYLOAD_KEYS))}."})
    name, description, schema = definition_validate(payload)
    base = agent.deployed_version
    if base is None:
        raise ValidationError({"name": f"{agent.name} has no deployed version to pin {name} in."})
    digest = tool_definition_hash(name=name, description=description, input_schema=schema)
    if base.tool_pins.filter(name=name, definition_hash=digest).exists():
        raise ValidationError({"name": f"Version {base.label} already pins this definition of {name}."})
    return (
        {
            "name": name,
            "description": description,
            "input_schema": schema,
            "definition_hash": digest,
            "base_version_id": base.pk,
            "base_label": base.label,
            "base_digest": base.bundle_digest,
            "new_label": registry_services.version_grant_label(agent=agent, base_label=base.label, mark="p"),
        },
        base,
    )


def _apply(request, actor):
    """The pin becomes a new deployed version (deployed versions are frozen)."""
    p = request.payload
    try:
        registry_services.version_deploy_with_pin(
            base_version_id=p["base_version_id"],
            base_digest=p["base_digest"],
            name=p["name"],
            description=p["description"],
            input_schema=p["input_schema"],
            label=p["new_label"],
            changelog=f"Pins MCP tool {p['name']} ({p['definition_hash'][:12]}; approval request #{request.pk}).",
            created_by=request.requester,
        )
    except RegistryConflict as exc:
        raise ApplyBlocked(exc.message) from None


def _diff(request):
    p = request.payload
    deployed = request.agent.deployed_version
    pin = deployed.tool_pins.filter(name=p["name"]).first() if deployed else None
    return [
        DiffRow("Deployed version", deployed.label if deployed else "none", p["new_label"]),
        DiffRow(f"{p['name']}: description", pin.description if pin else "not pinned", p["description"]),
        DiffRow(
            f"{p['name']}: input schema",
            json.dumps(pin.input_schema, sort_keys=True) if pin else "not pinned",
            json.dumps(p["input_schema"], sort_keys=True),
        ),
        DiffRow(f"{p['name']}: definition hash", pin.definition_hash if pin else "none", p["definition_hash"]),
    ]


TOOL_PIN_KIND = KindSpec(
    TOOL_PIN,
    "MCP tool pin",
    _normalize,
    _apply,
    _diff,
    # Accepting a changed tool definition is the rug-pull decision: two people, never the requester.
    min_approvals=2,
    lowers_control=True,
    # Raised by the MCP gateway when it meets a new definition, not from the agent card.
    by_hand=False,
)

# Declared with the registry's governed fields: no form, API or admin writes a pin directly.
GOVERNED = (GovernedField(ToolPin, "definition_hash", TOOL_PIN, on_create=False),)


# --- the gateway's report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PinReport:
    """The answer to one report: ``pinned`` (nothing recorded), or ``unpinned`` / ``changed`` with
    the violation and the pin request (``new`` False when this definition was reported before)."""

    status: str
    definition_hash: str
    violation_id: int | None = None
    change_request_id: int | None = None
    new: bool = False


def tool_definition_report(*, agent: Agent, payload: dict) -> PinReport:
    """The MCP gateway met an upstream tool definition: if the deployed version pins exactly it,
    nothing happens; otherwise (no pin of that name: ``unpinned``; a pin with another hash:
    ``changed``) a compliance violation is recorded and a ``tool_pin`` request opened, both once
    per distinct definition hash. Raises ``ValidationError`` for a bad definition and
    :class:`PinReportError` when the agent has no deployed version; nothing is recorded then."""
    name, description, schema = definition_validate(payload)
    digest = tool_definition_hash(name=name, description=description, input_schema=schema)
    deployed = agent.deployed_version
    if deployed is None:
        raise PinReportError(f"{agent.name} has no deployed version; deploy one before connecting the gateway.")
    pin = deployed.tool_pins.filter(name=name).first()
    if pin is not None and pin.definition_hash == digest:
        return PinReport("pinned", digest)
    kind = ViolationKind.TOOL_CHANGED if pin is not None else ViolationKind.TOOL_UNPINNED
    detail = (
        f"MCP tool {name} differs from its pin in {deployed.label} (pinned {pin.definition_hash[:12]}, "
        f"upstream {digest[:12]}); hidden from the agent."
        if pin is not None
        else f"MCP tool {name} ({digest[:12]}) is not pinned in {deployed.label}; hidden from the agent."
    )
    with transaction.atomic():
        # violation_record_once locks the agent's row: the check for an earlier request of this
        # definition below is serialised with any other report of it.
        violation, new = violation_record_once(
            agent=agent, version=deployed, kind=kind, key=digest, detail=detail, source="mcp-gateway"
        )
        earlier = ApprovalRequest.objects.filter(agent=agent, kind=TOOL_PIN, payload__definition_hash=digest)
        request = earlier.order_by("-pk").first()
        if request is None:
            request = request_create(
                agent=agent,
                kind=TOOL_PIN,
                payload={"name": name, "description": description, "input_schema": schema},
                requester=None,
                justification=f"The MCP gateway of {agent.name} met {'a changed' if pin else 'an unpinned'} "
                f"definition of {name}; it stays hidden from the agent until this definition is pinned.",
            )
    return PinReport(kind.value, digest, violation.pk, request.pk, new)
