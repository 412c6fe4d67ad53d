from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import permissions, viewsets

from registry.models import Agent
from registry.selectors import agents_visible_to

from .serializers import AgentDetailSerializer, AgentSerializer

AGENT_EXAMPLE = {
    "slug": "support-triage",
    "name": "Support triage",
    "purpose": "Resolves tier-1 support tickets.",
    "risk_tier": 1,
    "status": "production",
    "owner_team": "customer-support",
    "owner": "owner",
    "unit_of_work": "ticket resolved",
    "kpi_name": "first-contact resolution",
    "side_effects_enabled": True,
    "canary_share_pct": "0.00",
    "next_review_due": "2027-02-01",
}


class RegistryReadPermission(permissions.DjangoModelPermissions):
    """Reading the registry needs view_agent (every built-in role has it)."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


@extend_schema_view(
    list=extend_schema(
        summary="List agents",
        examples=[OpenApiExample("Agents", value=[AGENT_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(
        summary="One agent with its versions",
        examples=[OpenApiExample("Agent", value={**AGENT_EXAMPLE, "versions": []}, response_only=True)],
    ),
)
class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "slug"
    permission_classes = [RegistryReadPermission]
    filterset_fields = ["risk_tier", "status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Agent.objects.none()
        return agents_visible_to(self.request.user).prefetch_related("versions__grants__tool")

    def get_serializer_class(self):
        return AgentDetailSerializer if self.action == "retrieve" else AgentSerializer
