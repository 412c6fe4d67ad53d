"""``/api/v1/change-requests/``: CI and scripts create change requests and read their status.

Create and read only: there is no API path that edits or deletes a request or a decision
(PUT, PATCH and DELETE answer 405). Decisions are made by people on the request page."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from approvals import services
from approvals.choices import RequestStatus
from approvals.exceptions import ApprovalError
from approvals.kinds import kind_get
from approvals.models import ApprovalRequest, Decision
from approvals.selectors import requests_visible_to
from registry.api.authentication import UserAPIKeyAuthentication
from registry.selectors import agents_visible_to

from .serializers import ChangeRequestCreatedSerializer, ChangeRequestInputSerializer, ChangeRequestSerializer

EXAMPLE_OUT = {
    "id": 42,
    "url": "https://quorum.example.com/approvals/42/",
    "kind": "go_live",
    "agent": "support-triage",
    "version": "1.4",
    "status": "pending",
    "payload": {"version_id": 17, "label": "1.4", "bundle_digest": "9f2c…"},
    "payload_hash": "5d41402abc4b2a76b9719d911017c592" * 2,
    "requester": "ci-bot",
    "justification": "Release 1.4: tighter refund wording.",
    "required_approvals": 2,
    "approvals": 1,
    "summary": "1 of 2 approvals — approved by Alan Turing",
    "blocked_reason": "",
    "policy_snapshot": {"required_approvals": 2, "eligible_roles": ["Approver", "Governance board"]},
    "created_at": "2026-05-01T09:00:00Z",
    "expires_at": "2026-05-15T09:00:00Z",
    "decided_at": None,
    "applied_at": None,
    "decisions": [
        {
            "approver": "approver",
            "verdict": "approve",
            "reason": "Eval run 311 passes at 96 %.",
            "payload_hash": "5d41402abc4b2a76b9719d911017c592" * 2,
            "counts": True,
            "decided_at": "2026-05-01T10:00:00Z",
        }
    ],
    "checklist": [
        {
            "key": "privacy",
            "label": "Privacy impact assessment",
            "done": False,
            "ticked_by": None,
            "ticked_at": None,
            "evidence": "",
            "automatic": False,
        }
    ],
}
ERROR_EXAMPLE = OpenApiExample(
    "Refused",
    value={"errors": [{"code": "invalid", "field": "version", "message": "support-triage has no version '9.9'."}]},
    response_only=True,
    status_codes=["400"],
)

CONFLICT_STATUS = {"duplicate": status.HTTP_409_CONFLICT, "permission_denied": status.HTTP_403_FORBIDDEN}


@extend_schema_view(
    list=extend_schema(
        summary="List change requests I may see",
        parameters=[
            OpenApiParameter("status", str, description="pending, approved, denied, withdrawn, expired, applied"),
            OpenApiParameter("kind", str, description="Request kind, e.g. go_live"),
            OpenApiParameter("agent", str, description="Agent slug"),
        ],
        examples=[OpenApiExample("Requests", value=[EXAMPLE_OUT], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One change request with its decisions and checklist",
        examples=[OpenApiExample("Request", value=EXAMPLE_OUT, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a change request (e.g. deploy version 1.4 of an agent)",
        request=ChangeRequestInputSerializer,
        responses={201: ChangeRequestCreatedSerializer},
        examples=[
            OpenApiExample(
                "Deploy 1.4",
                value={
                    "agent": "support-triage",
                    "kind": "go_live",
                    "payload": {"version": "1.4"},
                    "justification": "Release 1.4: tighter refund wording.",
                },
                request_only=True,
            ),
            OpenApiExample("Created", value={**EXAMPLE_OUT, "warnings": []}, response_only=True, status_codes=["201"]),
            ERROR_EXAMPLE,
        ],
    ),
)
class ChangeRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = ChangeRequestSerializer
    # Token first, so a bad token is answered 401 with a WWW-Authenticate challenge (not 403).
    authentication_classes = [UserAPIKeyAuthentication, SessionAuthentication]
    filterset_fields: list[str] = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApprovalRequest.objects.none()
        qs = requests_visible_to(self.request.user).prefetch_related(
            Prefetch("decisions", queryset=Decision.objects.select_related("approver", "request")),
            "checklist__ticked_by",
        )
        params = self.request.query_params
        if params.get("status"):
            if params["status"] not in RequestStatus.values:
                raise exceptions.ValidationError(
                    {"status": f"Unknown status; use one of: {', '.join(RequestStatus.values)}."}
                )
            qs = qs.filter(status=params["status"])
        if params.get("kind"):
            qs = qs.filter(kind=params["kind"])
        if params.get("agent"):
            qs = qs.filter(agent__slug=params["agent"])
        return qs.order_by("-created_at")

    def create(self, request, *args, **kwargs):
        data = ChangeRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = _agent_named(request.user, data.validated_data)
        try:
            req = services.change_request_create(
                agent=agent,
                kind=data.validated_data["kind"],
                payload=data.validated_data["payload"],
                requester=request.user,
                justification=data.validated_data["justification"],
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(getattr(exc, "message_dict", {"payload": exc.messages})) from None
        except ApprovalError as exc:
            if exc.code == "permission_denied":
                raise exceptions.PermissionDenied(exc.message) from None
            return Response(
                {"errors": [{"code": exc.code, "field": None, "message": exc.message}]},
                status=CONFLICT_STATUS.get(exc.code, status.HTTP_409_CONFLICT),
            )
        req = self.get_queryset().get(pk=req.pk)
        answer = ChangeRequestCreatedSerializer(req, context=self.get_serializer_context())
        return Response(answer.data, status=status.HTTP_201_CREATED)


def _agent_named(user, data: dict):
    """The agent the request is for, among those ``user`` sees; None for a fleet-wide kind (a
    tool's tier, an approval or action policy), which names no agent."""
    slug = data.get("agent") or ""
    try:
        fleet_wide = kind_get(data["kind"]).fleet_wide
    except DjangoValidationError:
        fleet_wide = False  # the service answers the unknown kind
    if fleet_wide and not slug:
        return None
    agent = agents_visible_to(user).filter(slug=slug).first()
    if agent is None:
        raise exceptions.ValidationError({"agent": f"No agent {slug!r}." if slug else "Name the agent (its slug)."})
    return agent
