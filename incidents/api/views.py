from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from incidents import services
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incidents_visible_to
from registry.choices import AgentStatus
from registry.selectors import agents_visible_to

from .serializers import (
    IncidentDetailSerializer,
    IncidentOpenResultSerializer,
    IncidentOpenSerializer,
    IncidentSerializer,
)

INCIDENT_EXAMPLE = {
    "id": 42,
    "reference": "INC-42",
    "agent": "support-triage",
    "fleet_wide": False,
    "version": "3.1",
    "severity": "sev2",
    "title": "Containment dropped 14 points",
    "status": "open",
    "failure_mode": "quality_regression",
    "detection_source": "monitoring",
    "detected_at": "2026-03-02T09:14:00Z",
    "mitigated_at": None,
    "resolved_at": None,
    "closed_at": None,
    "time_to_mitigate_seconds": None,
    "time_to_resolve_seconds": None,
    "customer_impact": "",
    "financial_impact_usd": None,
    "commander": None,
    "url": "/incidents/42/",
}


class IncidentPermission(permissions.BasePermission):
    """Reading needs incidents.view_incident; opening needs incidents.add_incident."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return user.has_perm("incidents.view_incident")
        return user.has_perm("incidents.add_incident")


@extend_schema_view(
    list=extend_schema(
        summary="List incidents",
        parameters=[
            OpenApiParameter("severity", str, enum=["sev1", "sev2", "sev3"]),
            OpenApiParameter("status", str, enum=["open", "mitigated", "resolved", "closed"]),
            OpenApiParameter("agent", str, description="Agent slug."),
        ],
        examples=[OpenApiExample("Incidents", value=[INCIDENT_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One incident with its timeline and linked run ids",
        examples=[
            OpenApiExample(
                "Incident",
                value={
                    **INCIDENT_EXAMPLE,
                    "summary": "Drift check breach.",
                    "run_ids": ["run-8812"],
                    "postmortem_status": None,
                    "timeline": [
                        {
                            "at": "2026-03-02T09:14:00Z",
                            "actor": None,
                            "kind": "opened",
                            "from_status": "",
                            "to_status": "open",
                            "note": "Opened by Quorum (monitoring): Containment dropped 14 points",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    ),
    create=extend_schema(
        summary="Open an incident (or link the report to the agent's active one)",
        description="Needs `incidents.add_incident` (operators, the board, agent owners) and an agent you can see. "
        "Answers 201 when a new incident was opened, 200 when the report was linked to the agent's active "
        f"incident (at most one per agent). Limits: title 200 characters, summary 8000, at most "
        f"{services.MAX_RUN_IDS} run ids of {services.MAX_RUN_ID_LENGTH} characters.",
        request=IncidentOpenSerializer,
        responses={201: IncidentOpenResultSerializer, 200: IncidentOpenResultSerializer},
        examples=[
            OpenApiExample(
                "Report from monitoring",
                value={
                    "agent": "support-triage",
                    "severity": "sev2",
                    "title": "Containment dropped 14 points",
                    "failure_mode": "quality_regression",
                    "detection_source": "monitoring",
                    "summary": "Datadog monitor 1182 fired.",
                    "run_ids": ["run-8812", "run-8813"],
                },
                request_only=True,
            ),
            OpenApiExample("Opened", value={"created": True, "incident": INCIDENT_EXAMPLE}, response_only=True),
        ],
    ),
)
class IncidentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IncidentPermission]
    filterset_fields = ["severity", "status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        qs = incidents_visible_to(self.request.user).order_by("-detected_at", "-pk")
        agent = self.request.query_params.get("agent")
        if agent:
            qs = qs.filter(agent__slug=agent)
        if self.action == "retrieve":
            qs = qs.prefetch_related(
                "linked_runs", Prefetch("timeline", queryset=TimelineEntry.objects.select_related("actor"))
            ).select_related("postmortem")
        return qs

    def get_serializer_class(self):
        if self.action == "retrieve":
            return IncidentDetailSerializer
        if self.action == "create":
            return IncidentOpenSerializer
        return IncidentSerializer

    def create(self, request, *args, **kwargs):
        data = IncidentOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        agent = agents_visible_to(request.user).filter(slug=values.pop("agent")).first()
        if agent is None:
            raise serializers.ValidationError({"agent": "No agent with that slug that you can see."})
        if agent.status == AgentStatus.RETIRED:
            raise serializers.ValidationError({"agent": "That agent is retired."})
        try:
            incident, created = services.incident_open_or_link(agent=agent, opened_by=request.user, **values)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            ) from None
        body = IncidentOpenResultSerializer({"created": created, "incident": incident}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
