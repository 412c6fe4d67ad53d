"""``/api/v1/eval-runs/``: CI posts eval results computed elsewhere; anyone signed in reads runs.

Who may post: whoever may change the agent — its owners (``change_agent`` on that agent) and
the governance board. Approvers, operators, executives and auditors read only: the people who
decide on a go-live must not be the ones who produce its evidence. There is no path that edits
or deletes a run (PUT, PATCH and DELETE answer 405)."""

from __future__ import annotations

import re

from django.db.models import Prefetch
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from config.api_errors import flatten_errors
from evals import services
from evals.choices import RunSource, RunStatus
from evals.models import CaseResult, EvalRun
from evals.selectors import evalruns_visible_to
from registry.api.authentication import UserAPIKeyAuthentication
from registry.audit import acting_as
from registry.selectors import agents_visible_to
from telemetry.api.parsers import RunJSONParser
from telemetry.api.serializers import ErrorSerializer

from .serializers import (
    MAX_RESULTS,
    EvalRunDetailSerializer,
    EvalRunGateSerializer,
    EvalRunInSerializer,
    EvalRunSerializer,
)

EXAMPLE_IN = {
    "agent": "support-triage",
    "version": "2.0",
    "golden_set": "Core",
    "golden_set_version": 3,
    "idempotency_key": "github-actions:run-8812:attempt-1",
    "commit_sha": "9f2c1e07ab",
    "results": [
        {
            "case": "refund-simple",
            "passed": True,
            "score": 1,
            "output": "Refund issued for order 1042",
            "latency_ms": 820,
            "cost_usd": "0.0012",
        },
        {"case": "refund-angry", "passed": False, "score": 0.25, "output": "I cannot help.", "error": ""},
    ],
}
EXAMPLE_RUN = {
    "id": 311,
    "url": "https://quorum.example.com/evals/runs/311/",
    "agent": "support-triage",
    "version": "2.0",
    "golden_set": {"id": 4, "name": "Core", "version": 3},
    "source": "ci",
    "status": "completed",
    "idempotency_key": "github-actions:run-8812:attempt-1",
    "commit_sha": "9f2c1e07ab",
    "total_cases": 2,
    "done_cases": 2,
    "passed_cases": 1,
    "progress_pct": 100,
    "pass_rate_pct": "50.00",
    "threshold_pct": "92.00",
    "passed": False,
    "total_cost_usd": "0.001200",
    "error": "",
    "created_by": "ci-bot",
    "created_at": "2026-05-01T09:00:00Z",
    "started_at": "2026-05-01T09:00:00Z",
    "finished_at": "2026-05-01T09:00:00Z",
    "gate_pass_rate_pct": "50.00",
    "counts_for_gate": False,
}
EXAMPLE_RESULT = {
    "case": "refund-simple",
    "scorer": "contains",
    "passed": True,
    "score": "1.0000",
    "output": "Refund issued for order 1042",
    "latency_ms": 820,
    "cost_usd": "0.001200",
    "attempts": 1,
    "error": "",
    "judge": None,
}
_INDEX = re.compile(r"\.(\d+)(?=\.|$)")
LIST_RUN = {k: v for k, v in EXAMPLE_RUN.items() if k not in ("gate_pass_rate_pct", "counts_for_gate")}
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "Bad input, each error naming its field; nothing was stored."),
    403: OpenApiResponse(ErrorSerializer, "Signed in, but not an owner of this agent nor on the governance board."),
    409: OpenApiResponse(ErrorSerializer, "The idempotency key was already used with other results."),
    413: OpenApiResponse(ErrorSerializer, "Body larger than 5 MiB."),
}


@extend_schema_view(
    list=extend_schema(
        summary="List eval runs (newest first)",
        parameters=[
            OpenApiParameter("agent", str, description="Agent slug"),
            OpenApiParameter("version", str, description="Version label (with or without agent)"),
            OpenApiParameter("status", str, description="queued, running, completed, failed"),
            OpenApiParameter("source", str, description="console, schedule, ci, api"),
        ],
        examples=[OpenApiExample("Runs", value=[LIST_RUN], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One eval run with its per-case results and gate verdict",
        examples=[OpenApiExample("Run", value={**EXAMPLE_RUN, "results": [EXAMPLE_RESULT]}, response_only=True)],
    ),
    create=extend_schema(
        summary="Post eval results computed in CI",
        description=(
            "Records a completed eval run of an agent version on one golden-set version. Every case of that "
            "version must be reported exactly once. A passing run ticks *eval results meet threshold* on the "
            "version's open go-live and new-version requests.\n\n"
            "Idempotent: a retry with the same `idempotency_key` (scoped to the agent) and the same results "
            "answers 200 with the first run and `Idempotent-Replayed: true`; the same key with other results "
            "answers 409. The key may also be sent as the `Idempotency-Key` header.\n\n"
            f"Limits: body 5 MiB; 1 to {MAX_RESULTS} results; key 150 printable characters; output 16,000 "
            "characters of JSON per case; error 2,000 characters; score 0–1; latency up to one day.\n\n"
            "Who may post: the agent's owners and the governance board."
        ),
        request=EvalRunInSerializer,
        responses={201: EvalRunGateSerializer, 200: EvalRunGateSerializer, **ERRORS},
        examples=[
            OpenApiExample("CI results", value=EXAMPLE_IN, request_only=True),
            OpenApiExample("Recorded", value=EXAMPLE_RUN, response_only=True, status_codes=["201", "200"]),
            OpenApiExample(
                "Unknown case",
                value={
                    "errors": [
                        {
                            "code": "unknown_case",
                            "field": "results[1].case",
                            "message": "Golden set version 3 has no case 'refund-angy'.",
                        }
                    ]
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "Not allowed",
                value={
                    "errors": [
                        {
                            "code": "permission_denied",
                            "field": None,
                            "message": "You may not post eval results for Support Triage: only its owners "
                            "and the governance board may.",
                        }
                    ]
                },
                response_only=True,
                status_codes=["403"],
            ),
            OpenApiExample(
                "Key reused",
                value={
                    "errors": [
                        {
                            "code": "idempotency_conflict",
                            "field": "idempotency_key",
                            "message": "This idempotency key was already used for eval run #311 with other "
                            "results; post new results under a new key.",
                        }
                    ]
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    ),
)
class EvalRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = EvalRunSerializer
    # Token first, so a bad token is answered 401 with a WWW-Authenticate challenge (not 403).
    authentication_classes = [UserAPIKeyAuthentication, SessionAuthentication]
    # 5 MiB, checked before reading; scores and costs parsed as exact decimals.
    parser_classes = [RunJSONParser]
    filterset_fields: list[str] = []

    def get_serializer_class(self):
        if self.action == "retrieve":
            return EvalRunDetailSerializer
        if self.action == "create":
            return EvalRunGateSerializer
        return EvalRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return EvalRun.objects.none()
        qs = evalruns_visible_to(self.request.user).select_related("created_by")
        if self.action == "retrieve":
            return qs.prefetch_related(Prefetch("results", queryset=CaseResult.objects.select_related("judge")))
        params = self.request.query_params
        for name, choices in (("status", RunStatus), ("source", RunSource)):
            value = params.get(name)
            if value:
                if value not in choices.values:
                    raise exceptions.ValidationError(
                        {name: f"Unknown {name}; use one of: {', '.join(choices.values)}."}
                    )
                qs = qs.filter(**{name: value})
        if params.get("agent"):
            qs = qs.filter(agent__slug=params["agent"])
        if params.get("version"):
            qs = qs.filter(version__label=params["version"])
        return qs.order_by("-created_at", "-pk")

    def create(self, request, *args, **kwargs):
        data = EvalRunInSerializer(data=request.data)
        if not data.is_valid():
            # Name list items the way the service does (results[3].case), not results.3.case.
            errors = [
                {**e, "field": _INDEX.sub(r"[\1]", e["field"]) if e["field"] else None}
                for e in flatten_errors(data.errors)
            ]
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        given = data.validated_data
        header_key = request.headers.get("Idempotency-Key")
        if header_key is not None and header_key != given["idempotency_key"]:
            raise exceptions.ValidationError(
                {"idempotency_key": "The Idempotency-Key header and the body's idempotency_key differ."}
            )
        agent = agents_visible_to(request.user).filter(slug=given["agent"]).first()
        if agent is None:
            raise exceptions.ValidationError({"agent": f"No agent {given['agent']!r}."})
        if not services.user_may_post_eval_results(request.user, agent):
            raise exceptions.PermissionDenied(
                f"You may not post eval results for {agent.name}: only its owners and the governance board may."
            )
        version = agent.versions.filter(label=given["version"]).first()
        if version is None:
            raise exceptions.ValidationError({"version": f"{agent.slug} has no version {given['version']!r}."})
        golden_set = agent.golden_sets.filter(name=given["golden_set"]).first()
        if golden_set is None:
            raise exceptions.ValidationError({"golden_set": f"{agent.slug} has no golden set {given['golden_set']!r}."})
        set_version = golden_set.versions.filter(number=given["golden_set_version"]).first()
        if set_version is None:
            numbers = sorted(golden_set.versions.values_list("number", flat=True))
            raise exceptions.ValidationError(
                {
                    "golden_set_version": f"Golden set {golden_set.name!r} has no version "
                    f"{given['golden_set_version']}; it has {', '.join(map(str, numbers)) or 'none'}."
                }
            )
        try:
            with acting_as(request.user):
                run, created = services.evalrun_record_ci(
                    version=version,
                    set_version=set_version,
                    results=given["results"],
                    idempotency_key=given["idempotency_key"],
                    user=request.user,
                    commit_sha=given["commit_sha"],
                )
        except services.CiResultsRefused as exc:
            return Response({"errors": exc.errors}, status=exc.status)
        run = evalruns_visible_to(request.user).select_related("created_by").get(pk=run.pk)
        body = EvalRunGateSerializer(run, context=self.get_serializer_context()).data
        headers = {"Location": body["url"]}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK, headers=headers)
