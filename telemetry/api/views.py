"""Agent endpoints: report runs (one or a batch), read runtime controls, check the key."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.authentication import AgentKeyAuthentication, IsAgent
from telemetry.schemas import MAX_BATCH_ITEMS, MAX_BODY_BYTES, RunBatchIn, RunIn
from telemetry.selectors import agent_controls
from telemetry.services import runs_ingest

from .parsers import RunJSONParser
from .serializers import (
    BatchResultSerializer,
    ControlsSerializer,
    ErrorSerializer,
    RunResultSerializer,
    WhoAmISerializer,
)
from .throttling import AgentRateThrottle, WhoAmIThrottle

RUN_EXAMPLE = {
    "run_id": "run-2026-11-20-000123",
    "version_label": "1.1",
    "bundle_digest": "3f1c2a9e5b7d4c6a8e0f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
    "model": "gpt-4o-2024-08-06",
    "channel": "chat",
    "started_at": "2026-11-20T09:30:00Z",
    "ended_at": "2026-11-20T09:30:41.250Z",
    "status": "ok",
    "outcome": "escalated",
    "reason": "ambiguity",
    "input_tokens": 5210,
    "output_tokens": 840,
    "cost_usd": "0.021450",
    "tool_calls": 3,
    "tools_used": ["tickets.read", "orders.lookup"],
    "policy_blocks": 0,
    "human_minutes": "4.50",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "metadata": {"ticket": "ZD-88123", "language": "en"},
}
ERROR_RESPONSES = {
    401: OpenApiResponse(
        ErrorSerializer,
        "No, unknown, revoked or expired agent key.",
        examples=[
            OpenApiExample(
                "Unauthenticated",
                value={"errors": [{"code": "authentication_failed", "field": None, "message": "Invalid agent key."}]},
            )
        ],
    ),
    403: OpenApiResponse(ErrorSerializer, "The key belongs to another agent than the one named."),
    429: OpenApiResponse(
        ErrorSerializer,
        "Rate limit for this agent exceeded; see the Retry-After header.",
        examples=[
            OpenApiExample(
                "Throttled",
                value={
                    "errors": [{"code": "throttled", "field": None, "message": "Request was throttled."}],
                    "retry_after": 12,
                },
            )
        ],
    ),
}


class AgentAPIView(APIView):
    """The one base of every endpoint an agent calls (runs, controls, action requests): the
    agent's own key only (a person's session or token answers 401), ``request.user.agent`` is the
    calling agent, and each agent is rate-limited on its own."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsAgent]
    throttle_classes = [AgentRateThrottle]


class RunCreateView(AgentAPIView):
    parser_classes = [RunJSONParser]

    @extend_schema(
        operation_id="runs_create",
        summary="Report one run",
        description=(
            "Store one run summary of the calling agent. Idempotent on `run_id`: a replay answers 200 "
            "`duplicate` and stores nothing. Governance findings (unapproved version, model mismatch, "
            "ungranted tool) are listed under `violations`; the run is stored regardless. "
            f"Body at most {MAX_BODY_BYTES} bytes; limits per field are in the schema."
        ),
        request=RunIn,
        responses={
            201: OpenApiResponse(RunResultSerializer, "Stored."),
            200: OpenApiResponse(RunResultSerializer, "Already stored earlier (a replay); nothing changed."),
            400: OpenApiResponse(ErrorSerializer, "Invalid; every error names its field."),
            413: OpenApiResponse(ErrorSerializer, "Body larger than 5 MiB."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample("A run", value=RUN_EXAMPLE, request_only=True),
            OpenApiExample(
                "Created",
                value={"index": 0, "result": "created", "run_id": RUN_EXAMPLE["run_id"]},
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "Duplicate",
                value={"index": 0, "result": "duplicate", "run_id": RUN_EXAMPLE["run_id"]},
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Invalid",
                value={
                    "errors": [
                        {
                            "code": "ended_before_started",
                            "field": "ended_at",
                            "message": "ended_at must not be before started_at",
                        }
                    ]
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
        tags=["telemetry"],
    )
    def post(self, request):
        agent = request.user.agent
        [result] = runs_ingest(agent=agent, items=[request.data])
        if result.status == "invalid":
            forbidden = any(e["code"] == "forbidden" for e in result.errors)
            return Response(
                {"errors": result.errors},
                status=status.HTTP_403_FORBIDDEN if forbidden else status.HTTP_400_BAD_REQUEST,
            )
        code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


class RunBatchView(AgentAPIView):
    parser_classes = [RunJSONParser]

    @extend_schema(
        operation_id="runs_batch_create",
        summary="Report up to 1,000 runs",
        description=(
            f'`{{"runs": [...]}}` with 1 to {MAX_BATCH_ITEMS} run summaries, body at most {MAX_BODY_BYTES} '
            "bytes. Each item is validated and stored on its own and answered by index: `created`, "
            "`duplicate` (already stored, or repeated earlier in this batch) or `invalid` with field "
            "errors. Valid items are stored even when others are invalid. 200 whenever the envelope is valid."
        ),
        request=RunBatchIn,
        responses={
            200: OpenApiResponse(BatchResultSerializer, "Per-item results, in request order."),
            400: OpenApiResponse(ErrorSerializer, "The envelope is wrong (not an object, no runs, too many)."),
            413: OpenApiResponse(ErrorSerializer, "Body larger than 5 MiB."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Two runs",
                value={"runs": [RUN_EXAMPLE, {**RUN_EXAMPLE, "run_id": "run-2", "ended_at": "2026-11-20T09:00:00Z"}]},
                request_only=True,
            ),
            OpenApiExample(
                "One stored, one invalid",
                value={
                    "created": 1,
                    "duplicates": 0,
                    "invalid": 1,
                    "results": [
                        {"index": 0, "result": "created", "run_id": RUN_EXAMPLE["run_id"]},
                        {
                            "index": 1,
                            "result": "invalid",
                            "run_id": "run-2",
                            "errors": [
                                {
                                    "code": "ended_before_started",
                                    "field": "ended_at",
                                    "message": "ended_at must not be before started_at",
                                }
                            ],
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
        tags=["telemetry"],
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            return _envelope_error("invalid_type", None, 'Send an object: {"runs": [...]}.')
        unknown = sorted(set(data) - {"runs"})
        if unknown:
            return _envelope_error("unknown_field", unknown[0], f"{unknown[0]}: unknown field.")
        runs = data.get("runs")
        if not isinstance(runs, list):
            return _envelope_error("required" if runs is None else "invalid_type", "runs", "runs: a list of runs.")
        if not runs:
            return _envelope_error("min_items", "runs", "runs: send at least one run.")
        if len(runs) > MAX_BATCH_ITEMS:
            return _envelope_error("max_items", "runs", f"runs: at most {MAX_BATCH_ITEMS} runs per batch.")
        results = runs_ingest(agent=request.user.agent, items=runs)
        counts = {"created": 0, "duplicate": 0, "invalid": 0}
        for result in results:
            counts[result.status] += 1
            if result.errors:
                for error in result.errors:
                    error["field"] = (
                        f"runs[{result.index}].{error['field']}" if error["field"] else f"runs[{result.index}]"
                    )
        return Response(
            {
                "created": counts["created"],
                "duplicates": counts["duplicate"],
                "invalid": counts["invalid"],
                "results": [r.as_dict() for r in results],
            }
        )


def _envelope_error(code: str, field: str | None, message: str) -> Response:
    return Response({"errors": [{"code": code, "field": field, "message": message}]}, status=400)


class ControlsView(AgentAPIView):
    @extend_schema(
        operation_id="controls_retrieve",
        summary="Runtime controls of the calling agent",
        description=(
            "Read fresh on every request: a kill switch pulled in the console shows on the next call. "
            "`side_effects_enabled` is the effective value (the agent's own switch and the fleet's). "
            "Send the last `ETag` in `If-None-Match` to get an empty 304 when nothing changed. Other apps "
            "may add keys (for example the action gate's policy version); ignore keys you do not know."
        ),
        parameters=[
            OpenApiParameter(
                "agent", str, description="Optional: your agent's slug; another agent's slug is refused (403)."
            ),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="An earlier ETag."),
        ],
        responses={
            200: OpenApiResponse(ControlsSerializer, "The controls; the ETag header identifies this answer."),
            304: OpenApiResponse(None, "Unchanged since the ETag sent."),
            **ERROR_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Controls",
                value={
                    "agent": "support-triage",
                    "side_effects_enabled": False,
                    "agent_side_effects_enabled": False,
                    "global_side_effects_enabled": True,
                    "deployed_version": {
                        "label": "1.1",
                        "bundle_digest": RUN_EXAMPLE["bundle_digest"],
                        "model": "gpt-4o-2024-08-06",
                        "policy_version": "1",
                    },
                    "canary_version": None,
                    "canary_share_pct": "0.00",
                    "policy_version": "1",
                    "revision": "7.2",
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
        tags=["telemetry"],
    )
    def get(self, request):
        agent = request.user.agent
        asked = request.query_params.get("agent")
        if asked and asked != agent.slug:
            return Response(
                {
                    "errors": [
                        {
                            "code": "forbidden",
                            "field": "agent",
                            "message": f"This key may only read its own agent's controls ({agent.slug}).",
                        }
                    ]
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        body, etag = agent_controls(agent_id=agent.pk)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in _etags(request.headers.get("If-None-Match", "")):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(body, headers=headers)


def _etags(header: str) -> set[str]:
    tags = {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}
    return tags


class WhoAmIView(AgentAPIView):
    # Limited like every agent endpoint (its own counter, the same limit): a key check is no
    # free path around the rate limit, and benchmarks compare endpoints with equal throttles.
    throttle_classes = [WhoAmIThrottle]

    @extend_schema(
        operation_id="agent_whoami",
        summary="Which agent this key acts as",
        description="Checks a key: answers with the agent's slug and the key's prefix and expiry.",
        responses={200: WhoAmISerializer, 401: ERROR_RESPONSES[401], 429: ERROR_RESPONSES[429]},
        examples=[
            OpenApiExample(
                "Me",
                value={"agent": "support-triage", "key_prefix": "Xy12Ab34", "key_expires_at": "2027-02-18T10:00:00Z"},
                response_only=True,
            )
        ],
        tags=["telemetry"],
    )
    def get(self, request):
        key = request.auth
        return Response(
            {
                "agent": request.user.agent.slug,
                "key_prefix": key.prefix,
                "key_expires_at": key.expiry_date.isoformat() if key.expiry_date else None,
            }
        )
