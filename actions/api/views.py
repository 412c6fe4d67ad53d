"""``/api/v1/action-requests/``: an agent asks before a risky action, then polls the answer.

Agents only (their own key, ``Authorization: Bearer``); an agent sees and creates only its own
requests (another agent's id is a 404). The rules live in ``actions.services``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from actions.backtest import policy_backtest
from actions.choices import ActionStatus
from actions.forms import BacktestForm
from actions.models import ActionRequest
from actions.selectors import action_request_as_dict, policy_versions
from actions.services import ActionConflict, ActionInputError, action_request_submit
from actions.tool_pins import PinReportError, tool_definition_report
from registry.api.authentication import UserAPIKeyAuthentication
from registry.models import Tool
from registry.selectors import agents_visible_to, tool_pins_deployed
from telemetry.api.serializers import ErrorSerializer
from telemetry.api.throttling import window_hit
from telemetry.api.views import ERROR_RESPONSES, AgentAPIView

from .serializers import (
    ActionRequestInputSerializer,
    ActionRequestListSerializer,
    ActionRequestSerializer,
    BacktestInputSerializer,
    BacktestResultSerializer,
    ToolDefinitionInputSerializer,
    ToolDefinitionReportSerializer,
    ToolPinsSerializer,
)

BODY_KEYS = {
    "tool", "parameters", "idempotency_key", "dry_run", "change_request_id", "agent", "version",
    "session_id", "on_behalf_of", "cost_usd",
}  # fmt: skip
LIST_LIMIT = 100
POLICY_VIEW_PERM = "actions.view_actionpolicyversion"

EXAMPLE_ID = "6f1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b"
PENDING_EXAMPLE = {
    "id": EXAMPLE_ID,
    "status": "pending",
    "dry_run": False,
    "tool": "payments.refund",
    "idempotency_key": "refund-ZD-88123-1",
    "parameters": {"amount_usd": 120, "customer_tier": "standard", "card_number": "[redacted]"},
    "decision": {
        "source": "policy_rule",
        "policy_version": 1,
        "rule": {"number": 3, "text": 'require 2 approvals from "Support manager" if amount_usd > 50'},
        "reason": "needs 2 approval(s) from Support manager",
    },
    "approval": {
        "request_id": 412,
        "required_approvals": 2,
        "roles": ["Support manager"],
        "approvals": 0,
        "blocked_reason": "",
    },
    "change_request_id": None,
    "created_at": "2026-05-04T10:00:00Z",
    "decided_at": None,
    "expires_at": "2026-05-04T10:15:00Z",
}
ALLOWED_EXAMPLE = {
    **PENDING_EXAMPLE,
    "status": "allowed",
    "parameters": {"amount_usd": 40, "customer_tier": "pro"},
    "decision": {
        "source": "policy_rule",
        "policy_version": 1,
        "rule": {"number": 1, "text": "allow if amount_usd <= 50 and customer_tier in ['standard', 'pro']"},
        "reason": "",
    },
    "approval": None,
    "decided_at": "2026-05-04T10:00:00Z",
    "expires_at": None,
}
DENIED_EXAMPLE = {
    **ALLOWED_EXAMPLE,
    "status": "denied",
    "decision": {"source": "kill_switch", "policy_version": 1, "rule": None, "reason": "side effects disabled"},
}
APPROVED_EXAMPLE = {
    **PENDING_EXAMPLE,
    "status": "approved",
    "decision": {**PENDING_EXAMPLE["decision"], "source": "people"},
    "approval": {**PENDING_EXAMPLE["approval"], "approvals": 2},
    "decided_at": "2026-05-04T10:04:12Z",
}
MISSING_FIELD_EXAMPLE = {
    "errors": [
        {
            "code": "required",
            "field": "parameters.customer_tier",
            "message": "customer_tier: required by this tool's policy.",
        }
    ]
}


def _error(code: str, field: str | None, message: str, http_status: int) -> Response:
    return Response({"errors": [{"code": code, "field": field, "message": message}]}, status=http_status)


class ActionRequestListCreateView(AgentAPIView):
    @extend_schema(
        operation_id="action_requests_create",
        summary="Ask before a risky action",
        description=(
            "The tool's policy decides at once: `allowed`, `denied` (with the rule and the reason) or `pending` "
            "(people decide in the approvals queue; poll the returned id or receive the agent's webhook; "
            "pending requests expire after 15 minutes by default). The kill switch denies every side-effecting "
            'action with the reason "side effects disabled". Idempotent on `idempotency_key`: the same key answers '
            "200 with the stored request (header `Idempotent-Replayed: true`); the same key for a different action "
            "is a 409. `dry_run: true` answers what would happen and stores nothing. Parameters are checked "
            "against the fields the policy declares (missing, unknown or mistyped fields are a 400 naming the "
            "field; nothing is stored); fields the policy names for redaction never reach the database."
        ),
        request=ActionRequestInputSerializer,
        responses={
            201: OpenApiResponse(ActionRequestSerializer, "Decided (allowed / denied) or pending; stored."),
            200: OpenApiResponse(ActionRequestSerializer, "A replay of the same key, or a dry run."),
            400: OpenApiResponse(ErrorSerializer, "Invalid; every error names its field."),
            409: OpenApiResponse(ErrorSerializer, "The idempotency key was used for a different action."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Refund 120 USD",
                value={
                    "tool": "payments.refund",
                    "idempotency_key": "refund-ZD-88123-1",
                    "parameters": {
                        "amount_usd": 120,
                        "customer_tier": "standard",
                        "order_id": "A-1001",
                        "card_number": "4111 1111 1111 1111",
                    },
                },
                request_only=True,
            ),
            OpenApiExample(
                "Dry run",
                value={
                    "tool": "payments.refund",
                    "dry_run": True,
                    "parameters": {"amount_usd": 40, "customer_tier": "pro", "order_id": "A-1002"},
                },
                request_only=True,
            ),
            OpenApiExample("Pending", value=PENDING_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample("Allowed", value=ALLOWED_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample("Denied by the kill switch", value=DENIED_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample("Replay", value=PENDING_EXAMPLE, response_only=True, status_codes=["200"]),
            OpenApiExample("Missing field", value=MISSING_FIELD_EXAMPLE, response_only=True, status_codes=["400"]),
            OpenApiExample(
                "Key reused",
                value={
                    "errors": [
                        {
                            "code": "idempotency_conflict",
                            "field": "idempotency_key",
                            "message": "idempotency_key was already used for another action (payments.refund, "
                            "2026-05-04 10:00 UTC); use a new key for a new action.",
                        }
                    ]
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
        tags=["action gate"],
    )
    def post(self, request):
        agent = request.user.agent
        data = request.data
        if not isinstance(data, dict):
            return _error("invalid_type", None, 'Send a JSON object: {"tool": ..., "parameters": {...}}.', 400)
        unknown = sorted(set(data) - BODY_KEYS)
        if unknown:
            return _error("unknown_field", unknown[0], f"{unknown[0]}: unknown field.", 400)
        if data.get("agent") not in (None, agent.slug):
            return _error("forbidden", "agent", f"This key may only act for its own agent ({agent.slug}).", 403)
        dry_run = data.get("dry_run", False)
        if not isinstance(dry_run, bool):
            return _error("invalid_type", "dry_run", "dry_run: true or false.", 400)
        try:
            result = action_request_submit(
                agent=agent,
                tool_name=data.get("tool"),
                parameters=data.get("parameters"),
                idempotency_key=data.get("idempotency_key"),
                dry_run=dry_run,
                change_request_id=data.get("change_request_id"),
                version=data.get("version"),
                session_id=data.get("session_id"),
                on_behalf_of=data.get("on_behalf_of"),
                cost_usd=data.get("cost_usd"),
            )
        except ActionInputError as exc:
            return Response({"errors": exc.errors}, status=400)
        except ActionConflict as exc:
            return _error("idempotency_conflict", "idempotency_key", exc.message, 409)
        if result.preview is not None:
            return Response(result.preview, status=200)
        body = action_request_as_dict(result.action)
        if result.created:
            return Response(body, status=201, headers={"Location": f"{request.path}{result.action.pk}/"})
        return Response(body, status=200, headers={"Idempotent-Replayed": "true"})

    @extend_schema(
        operation_id="action_requests_list",
        summary="My recent action requests",
        description=f"The calling agent's own requests, newest first, at most {LIST_LIMIT}. "
        "Filter with `status` (an expired-but-not-yet-closed request counts as pending here).",
        parameters=[OpenApiParameter("status", str, enum=ActionStatus.values, description="Only this status.")],
        responses={200: ActionRequestListSerializer, 400: OpenApiResponse(ErrorSerializer), **ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "Two requests", value={"count": 2, "results": [PENDING_EXAMPLE, ALLOWED_EXAMPLE]}, response_only=True
            )
        ],
        tags=["action gate"],
    )
    def get(self, request):
        qs = _queryset().filter(agent=request.user.agent)
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in ActionStatus.values:
                return _error("invalid_choice", "status", f"status: one of {', '.join(ActionStatus.values)}.", 400)
            qs = qs.filter(status=wanted)
        rows = [action_request_as_dict(a) for a in qs.order_by("-created_at")[:LIST_LIMIT]]
        return Response({"count": len(rows), "results": rows})


def _queryset():
    return ActionRequest.objects.select_related("tool", "policy_version", "approval_request")


class ActionRequestDetailView(AgentAPIView):
    @extend_schema(
        operation_id="action_requests_retrieve",
        summary="Poll one action request",
        description=(
            "`pending` until people decide: then `approved` or `denied`; `expired` once its expiry passed "
            "without enough approvals (from that instant no approval can count). Another agent's id is a 404."
        ),
        responses={
            200: ActionRequestSerializer,
            404: OpenApiResponse(ErrorSerializer, "No such request for this agent."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample("Approved", value=APPROVED_EXAMPLE, response_only=True, status_codes=["200"]),
            OpenApiExample(
                "Expired",
                value={
                    **PENDING_EXAMPLE,
                    "status": "expired",
                    "decision": {
                        **PENDING_EXAMPLE["decision"],
                        "source": "expiry",
                        "reason": "no decision before the request expired",
                    },
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Not found",
                value={"errors": [{"code": "not_found", "field": None, "message": "No such action request."}]},
                response_only=True,
                status_codes=["404"],
            ),
        ],
        tags=["action gate"],
    )
    def get(self, request, pk: str):
        try:
            key = uuid.UUID(str(pk))
        except ValueError:
            key = None
        action = _queryset().filter(pk=key, agent=request.user.agent).first() if key else None
        if action is None:
            return _error("not_found", None, "No such action request.", 404)
        return Response(action_request_as_dict(action), headers={"Cache-Control": "no-store"})


# --- the MCP gateway: pinned tool definitions (issue 17) -------------------------------------------

PIN_KEYS = {"name", "description", "input_schema"}
PINS_EXAMPLE = {
    "version": "1.1+p1",
    "bundle_digest": "0f3c…",
    "pins": [
        {
            "name": "payments.refund",
            "description": "Refund an order.",
            "input_schema": {"type": "object", "properties": {"amount_usd": {"type": "number"}}},
            "definition_hash": "9b1d…",
        }
    ],
}


class ToolPinsView(AgentAPIView):
    @extend_schema(
        operation_id="agent_tool_pins",
        summary="MCP tool definitions pinned in my deployed version",
        description="What the MCP gateway compares upstream tools with. An upstream tool whose definition hash "
        "is not listed here is hidden from the agent and reported with POST `report/`.",
        responses={200: ToolPinsSerializer, **ERROR_RESPONSES},
        examples=[OpenApiExample("Pins", value=PINS_EXAMPLE, response_only=True)],
        tags=["mcp gateway"],
    )
    def get(self, request):
        return Response(tool_pins_deployed(agent=request.user.agent))


class ToolDefinitionReportView(AgentAPIView):
    @extend_schema(
        operation_id="agent_tool_pins_report",
        summary="Report an upstream MCP tool definition",
        description="`pinned` (200): the deployed version pins exactly this definition. Otherwise the definition "
        "is recorded as a compliance violation (`tool_unpinned` or `tool_changed`) and a two-person `tool_pin` "
        "change request is opened to pin it, once per distinct definition: reporting it again answers 200 with "
        "the same ids and `new: false`. 409 when the agent has no deployed version.",
        request=ToolDefinitionInputSerializer,
        responses={
            201: OpenApiResponse(ToolDefinitionReportSerializer, "Recorded; a pin request opened."),
            200: OpenApiResponse(ToolDefinitionReportSerializer, "Pinned, or reported before."),
            400: OpenApiResponse(ErrorSerializer, "Invalid; every error names its field."),
            409: OpenApiResponse(ErrorSerializer, "No deployed version."),
            **ERROR_RESPONSES,
        },
        tags=["mcp gateway"],
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            return _error("invalid_type", None, 'Send a JSON object: {"name": ..., "description": ..., '
                          '"input_schema": {...}}.', 400)  # fmt: skip
        unknown = sorted(set(data) - PIN_KEYS)
        if unknown:
            return _error("unknown_field", unknown[0], f"{unknown[0]}: unknown field.", 400)
        try:
            report = tool_definition_report(agent=request.user.agent, payload=data)
        except ValidationError as exc:
            errors = [
                {"code": "invalid", "field": field, "message": f"{field}: {' '.join(messages)}"}
                for field, messages in exc.message_dict.items()
            ]
            return Response({"errors": errors}, status=400)
        except PinReportError as exc:
            return _error("no_deployed_version", None, exc.message, 409)
        body = {
            "status": report.status,
            "definition_hash": report.definition_hash,
            "violation_id": report.violation_id,
            "change_request_id": report.change_request_id,
            "new": report.new,
        }
        return Response(body, status=201 if report.new else 200)


class PersonBacktestThrottle(BaseThrottle):
    """A backtest may replay a month of requests: each person is rate-limited on their own, in the
    shared one-minute window the agents' endpoints count in (``telemetry.api.throttling``)."""

    def allow_request(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return True
        allowed, self._wait = window_hit("backtest", f"user:{request.user.pk}")
        return allowed

    def wait(self) -> float:
        return max(1, int(self._wait + 0.999))


class CanReadPolicies(IsAuthenticated):
    message = "You may not read action policies."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(POLICY_VIEW_PERM)


BACKTEST_EXAMPLE_OUT = {
    "tool": "payments.refund",
    "start": "2026-05-01T00:00:00Z",
    "end": "2026-05-08T00:00:00Z",
    "total": 9,
    "replayed": 7,
    "unchanged": 4,
    "changed": 3,
    "gate_decided": 1,
    "purged": 1,
    "refused": 0,
    "refused_examples": [],
    "changes": [
        {
            "before": "2 approval(s) from Support manager",
            "after": "allow",
            "before_rule": 'rule 4: require 2 approvals from "Support manager" if amount_usd > 50',
            "after_rule": "rule 2: allow if amount_usd <= 100 and customer_tier in ['standard', 'pro']",
            "count": 1,
            "examples": [EXAMPLE_ID],
        }
    ],
    "transitions": [{"before": "2 approval(s) from Support manager", "after": "allow", "count": 1}],
    "redacted_fields": {"card_number": 1},
    "redacted_rules": [5],
    "context_lacking": {},
    "seconds": 0.01,
}


class PolicyBacktestView(APIView):
    """``POST /api/v1/policies/<tool>/backtest/``: the console's "what if" page as an API, the
    same service (:func:`actions.backtest.policy_backtest`) and the same checks
    (:class:`actions.forms.BacktestForm`). A read: whoever may read policies may run it; examples
    come only from the agents the caller may see."""

    authentication_classes = [UserAPIKeyAuthentication, SessionAuthentication]
    permission_classes = [CanReadPolicies]
    throttle_classes = [PersonBacktestThrottle]

    @extend_schema(
        operation_id="policy_backtest",
        summary="Backtest a draft action policy on a period of recorded requests",
        description="Replays the tool's recorded action requests of the period (at most 31 days) against the "
        "draft fields and rules and counts the decisions that would change, from what to what and by rule. "
        "Nothing is saved. Requests decided by the kill switch, a grant or a budget, and requests whose "
        "parameters were purged, are not replayed (counted apart).",
        request=BacktestInputSerializer,
        responses={
            200: OpenApiResponse(BacktestResultSerializer, "The replay's counts."),
            400: OpenApiResponse(ErrorSerializer, "Invalid; every error names its field."),
            404: OpenApiResponse(ErrorSerializer, "No such tool."),
        },
        examples=[
            OpenApiExample(
                "A draft",
                value={
                    "start": "2026-05-01",
                    "end": "2026-05-07",
                    "rules_source": 'allow if amount_usd <= 100\nrequire 1 approval from "Support manager" '
                    "if amount_usd > 100",
                },
                request_only=True,
            ),
            OpenApiExample("Result", value=BACKTEST_EXAMPLE_OUT, response_only=True, status_codes=["200"]),
        ],
        tags=["action policies"],
    )
    def post(self, request, tool: str):
        tool_obj = Tool.objects.filter(name=tool).first()
        if tool_obj is None:
            raise exceptions.NotFound(f"No tool {tool!r} in the catalog.")
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        body = BacktestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        current = policy_versions(tool=tool_obj).first()
        fields_source = data.get("fields_source") or (current.fields_source if current else "")
        form = BacktestForm(
            {
                "start": data["start"].isoformat(),
                "end": data["end"].isoformat(),
                "fields_source": fields_source,
                "rules_source": data["rules_source"],
            }
        )
        if not form.is_valid():
            raise exceptions.ValidationError(
                {name if name != "__all__" else "non_field_errors": list(errs) for name, errs in form.errors.items()}
            )
        clean = form.cleaned_data
        visible = set(agents_visible_to(request.user).values_list("pk", flat=True))
        result = policy_backtest(
            tool=tool_obj,
            fields=clean["fields"],
            rules=clean["rules"],
            start=datetime.combine(clean["start"], time.min, tzinfo=UTC),
            end=datetime.combine(clean["end"] + timedelta(days=1), time.min, tzinfo=UTC),
            example_agents=visible,
        )
        return Response(BacktestResultSerializer(_result_dict(result)).data)


def _result_dict(result) -> dict:
    """The result in JSON's shapes: transitions as a list, rule numbers as text keys."""
    answer = {name: getattr(result, name) for name in BacktestResultSerializer().fields}
    answer["changes"] = [vars(change) for change in result.changes]
    answer["transitions"] = [
        {"before": before, "after": after, "count": count} for (before, after), count in result.transitions.items()
    ]
    answer["context_lacking"] = {str(number): count for number, count in result.context_lacking.items()}
    return answer
