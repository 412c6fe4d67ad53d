"""The audit chain over the API: the explorer's read, with the same filters and the same errors."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.exceptions import ValidationError

from registry.choices import ActorKind
from registry.models import AuditEntry

from ..explorer import entries_filtered
from ..forms import AuditFilterForm
from .serializers import AuditEntrySerializer


class AuditReaders(permissions.BasePermission):
    """Auditors and the governance board (``registry.view_auditentry``)."""

    message = "The audit chain is for auditors and the governance board."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("registry.view_auditentry"))


@extend_schema(
    summary="Audit chain entries (newest first), filtered like the audit explorer",
    parameters=[
        OpenApiParameter("actor_kind", str, enum=ActorKind.values),
        OpenApiParameter("actor", str, description="A name, part of one, or a person's or agent's id."),
        OpenApiParameter("agent", str, description="Agent slug."),
        OpenApiParameter("object_type", str, description='"app_label.model", e.g. actions.actionrequest.'),
        OpenApiParameter("object_id", str),
        OpenApiParameter("action", str, description="e.g. decision (also decision.approve, decision.deny)."),
        OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (UTC), inclusive."),
        OpenApiParameter("until", OpenApiTypes.DATE, description="To this day (UTC), inclusive."),
        OpenApiParameter("q", str, description="Free text in the summary, actor, action, object type or id."),
    ],
)
class AuditEntryList(generics.ListAPIView):
    serializer_class = AuditEntrySerializer
    permission_classes = [AuditReaders]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEntry.objects.none()
        form = AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        return entries_filtered(form.cleaned_data).select_related("agent").order_by("-seq")
