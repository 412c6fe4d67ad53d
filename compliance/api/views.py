"""Intake, documents and impact assessments over the API: the console's rules through the same
services, the console's rights (who may read, propose, score, add, write), the API's error shape.

Nothing here approves an assessment: that is its two-person change request (``/api/v1/change-requests/``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from approvals.exceptions import RequestRefused
from registry.permissions import user_can_edit_agent
from registry.selectors import agents_visible_to

from .. import assessments, documents, intake
from ..intake_forms import IntakeForm
from ..models import AgentDocument, ImpactAssessment, Intake
from .serializers import (
    AssessmentCreateSerializer,
    AssessmentSerializer,
    DocumentCreateSerializer,
    DocumentSerializer,
    IntakeCreateSerializer,
    IntakeScoreSerializer,
    IntakeSerializer,
)

AGENT_PARAMETER = OpenApiParameter("agent", str, description="Agent slug (only agents you can see).")


class Conflict(serializers.ValidationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _invalid(exc: DjangoValidationError) -> serializers.ValidationError:
    """A rule's refusal as the API's 400, field by field."""
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


def _visible_agent(user, slug: str):
    """The named agent among those ``user`` sees; a 400 on the field otherwise (404 semantics: an
    agent one may not see is not named as existing)."""
    agent = agents_visible_to(user).filter(slug=slug).first()
    if agent is None:
        raise serializers.ValidationError({"agent": "No agent with that slug that you can see."})
    return agent


def _editable_agent(user, slug: str, refusal: str):
    """The named agent (as :func:`_visible_agent`), which ``user`` must also be allowed to edit:
    adding its documents or writing its assessments is the owner's side of the console."""
    agent = _visible_agent(user, slug)
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied(refusal)
    return agent


@extend_schema_view(
    list=extend_schema(
        summary="List intakes (newest first)",
        description="Every signed-in person sees the intake funnel, as in the console.",
    ),
    retrieve=extend_schema(summary="One intake with its scores and verdict"),
    create=extend_schema(
        summary="Propose a use case (intake)",
        description="Anyone signed in may propose; it starts submitted, unscored. The board scores it next.",
        request=IntakeCreateSerializer,
        responses={201: IntakeSerializer},
    ),
    score=extend_schema(
        summary="Score an intake (the governance board)",
        description="Needs `compliance.score_intake` (the governance board). Each dimension 1-5, bonuses 0-3; "
        f"go at {intake.GO_THRESHOLD} on the five dimensions (bonuses never count). The proposer never scores "
        "their own (409), nor may an intake that became an agent or was withdrawn be scored (409).",
        request=IntakeScoreSerializer,
        responses={200: IntakeSerializer},
    ),
)
class IntakeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    filterset_fields = ["status"]
    serializer_class = IntakeSerializer

    def get_queryset(self):
        return Intake.objects.select_related("proposer", "team", "scored_by", "agent").order_by("-created_at", "-pk")

    def get_serializer_class(self):
        return {"create": IntakeCreateSerializer, "score": IntakeScoreSerializer}.get(self.action, IntakeSerializer)

    def create(self, request, *args, **kwargs):
        data = IntakeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        form = IntakeForm(data.form_data())
        if not form.is_valid():
            raise serializers.ValidationError(
                {("non_field_errors" if k == "__all__" else k): list(v) for k, v in form.errors.items()}
            )
        item = intake.intake_submit(form=form, proposer=request.user)
        return Response(IntakeSerializer(item).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def score(self, request, pk=None):
        item = self.get_object()
        if not request.user.has_perm(intake.SCORE_PERMISSION):
            raise PermissionDenied("Only the governance board scores intakes.")
        data = IntakeScoreSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = intake.intake_score(
                intake_id=item.pk, scorer=request.user, scores=data.scores(), note=data.validated_data["note"]
            )
        except intake.IntakeRefused as exc:
            raise Conflict({"detail": exc.message}) from None
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        return Response(IntakeSerializer(self.get_queryset().get(pk=item.pk)).data)


@extend_schema_view(
    list=extend_schema(
        summary="List agent documents (newest version first)",
        description="Documents of the agents you can see.",
        parameters=[AGENT_PARAMETER],
    ),
    create=extend_schema(
        summary="Add a document version (a link, or a file upload)",
        description="Whoever may edit the agent adds (its owners, the board). A file (multipart/form-data) or a "
        "link (JSON or form), never both; the same size, type, signature and virus-scan checks as the console's "
        "upload. The review date may not be in the past. Approved releases that waited for documents are "
        "retried once it is stored.",
        request={"application/json": DocumentCreateSerializer, "multipart/form-data": DocumentCreateSerializer},
        responses={201: DocumentSerializer},
    ),
)
class DocumentViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    filterset_fields = ["kind"]
    serializer_class = DocumentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AgentDocument.objects.none()
        qs = AgentDocument.objects.filter(agent__in=agents_visible_to(self.request.user))
        slug = self.request.query_params.get("agent")
        if slug:
            qs = qs.filter(agent__slug=slug)
        return qs.select_related("agent", "owner", "uploaded_by").order_by("agent__slug", "kind", "-version")

    def get_serializer_class(self):
        return DocumentCreateSerializer if self.action == "create" else DocumentSerializer

    def create(self, request, *args, **kwargs):
        data = DocumentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent = _editable_agent(request.user, values["agent"], "You may not add documents to this agent.")
        try:
            doc = documents.document_add(
                agent=agent,
                kind=values["kind"],
                title=values["title"],
                owner=values.get("owner") or agent.owner,
                review_due=values["review_due"],
                user=request.user,
                upload=values.get("file"),
                url=values.get("url") or "",
                note=values["note"],
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        return Response(DocumentSerializer(doc).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="List impact assessments (FRIA and DPIA versions)",
        description="Assessments of the agents you can see.",
        parameters=[AGENT_PARAMETER],
    ),
    retrieve=extend_schema(summary="One impact assessment with its answers"),
    create=extend_schema(
        summary="Write the next FRIA or DPIA version (it goes to its two-person approval)",
        description="Whoever may edit the agent writes. The assessment is stored pending and its "
        "`impact_assessment` change request is opened in the same transaction (nothing is stored if it "
        "cannot be). It becomes approved only when two people other than the author approve that request; "
        "no API call or admin page approves it.",
        request=AssessmentCreateSerializer,
        responses={201: AssessmentSerializer},
    ),
)
class AssessmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    filterset_fields = ["kind", "status"]
    serializer_class = AssessmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImpactAssessment.objects.none()
        qs = ImpactAssessment.objects.filter(agent__in=agents_visible_to(self.request.user))
        slug = self.request.query_params.get("agent")
        if slug:
            qs = qs.filter(agent__slug=slug)
        return qs.select_related("agent", "author").order_by("agent__slug", "kind", "-version")

    def get_serializer_class(self):
        return AssessmentCreateSerializer if self.action == "create" else AssessmentSerializer

    def get_object(self):
        try:
            return super().get_object()
        except (ValueError, TypeError):
            raise NotFound() from None

    def create(self, request, *args, **kwargs):
        data = AssessmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent = _editable_agent(request.user, values["agent"], "You may not write impact assessments for this agent.")
        try:
            assessment = assessments.assessment_submit(
                agent=agent,
                kind=values["kind"],
                answers=values["answers"],
                valid_until=values["valid_until"],
                author=request.user,
                justification=values["justification"],
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        except RequestRefused as exc:
            raise Conflict({"detail": str(exc)}) from None
        return Response(AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)
