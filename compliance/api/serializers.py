"""The API's shapes for intake, documents and impact assessments. Input serializers parse; the
rules (who may, what is valid beyond types and lengths) stay in the services they call."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from registry.models import Team

from ..assessments import MAX_ANSWER_CHARS, QUESTIONS
from ..choices import AssessmentKind, DocumentKind
from ..intake import BONUSES, DIMENSIONS, intake_verdict
from ..intake_forms import IntakeForm
from ..models import BONUS_MAX, SCORE_MAX, SCORE_MIN, AgentDocument, ImpactAssessment, Intake

USERNAME = {"slug_field": "username", "read_only": True}


class IntakeSerializer(serializers.ModelSerializer):
    proposer = serializers.SlugRelatedField(**USERNAME)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    scored_by = serializers.SlugRelatedField(**USERNAME, allow_null=True)
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    core_total = serializers.IntegerField(read_only=True, allow_null=True, help_text="Sum of the five scores.")
    verdict = serializers.SerializerMethodField(help_text="go (20 or more), borderline, skip (15 or less), unscored.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Intake
        fields = [
            "id",
            "title",
            "status",
            *IntakeForm.Meta.fields,
            "proposer",
            *(d.score_field for d in DIMENSIONS),
            *(name for name, _ in BONUSES),
            "score_note",
            "scored_by",
            "scored_at",
            "core_total",
            "verdict",
            "agent",
            "created_at",
            "url",
        ]
        read_only_fields = fields

    def get_verdict(self, obj) -> str:
        return intake_verdict(obj.core_total)

    def get_url(self, obj) -> str:
        return obj.get_absolute_url()


class IntakeCreateSerializer(serializers.ModelSerializer):
    """A proposal: the console's intake form, field for field (the team by slug)."""

    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Intake
        fields = list(IntakeForm.Meta.fields)

    def form_data(self) -> dict:
        """The validated values as the console's form takes them (the service saves a form)."""
        data = dict(self.validated_data)
        data["team"] = data["team"].pk if data.get("team") else None
        return data


class IntakeScoreSerializer(serializers.Serializer):
    """The board's scorecard: each dimension 1-5, bonuses 0-3 (never counted towards go)."""

    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def get_fields(self):
        fields = super().get_fields()
        for d in DIMENSIONS:
            fields[d.score_field] = serializers.IntegerField(
                min_value=SCORE_MIN, max_value=SCORE_MAX, help_text=f"{d.label}: 5 = {d.five}; 1 = {d.one}."
            )
        for name, label in BONUSES:
            fields[name] = serializers.IntegerField(min_value=0, max_value=BONUS_MAX, default=0, help_text=label)
        return fields

    def scores(self) -> dict:
        return {k: v for k, v in self.validated_data.items() if k != "note"}


class DocumentSerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.SlugRelatedField(**USERNAME)
    uploaded_by = serializers.SlugRelatedField(**USERNAME)
    link = serializers.CharField(source="url", read_only=True, help_text="The document's link (blank for a file).")
    download_url = serializers.SerializerMethodField(help_text="The uploaded file (null for a link).")
    current = serializers.SerializerMethodField(help_text="Within its review date: it counts for the gate.")

    class Meta:
        model = AgentDocument
        fields = [
            "id",
            "agent",
            "kind",
            "version",
            "title",
            "link",
            "download_url",
            "content_type",
            "size_bytes",
            "sha256",
            "owner",
            "review_due",
            "current",
            "note",
            "uploaded_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_download_url(self, obj) -> str | None:
        if not obj.file:
            return None
        return reverse("compliance:document_download", kwargs={"slug": obj.agent.slug, "pk": obj.pk})

    def get_current(self, obj) -> bool:
        return obj.review_due >= timezone.localdate()


class DocumentCreateSerializer(serializers.Serializer):
    """A new version of one of the agent's documents: a file (multipart) or a link, never both."""

    agent = serializers.SlugField(max_length=64, help_text="Agent slug.")
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    title = serializers.CharField(max_length=200)
    file = serializers.FileField(
        required=False, help_text="Multipart only. PDF, Markdown, text, PNG, JPEG, SVG, JSON or CSV; scanned."
    )
    url = serializers.URLField(required=False, allow_blank=True, max_length=500, help_text="Or a link.")
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="Username of the document's owner (default: the agent's owner).",
    )
    review_due = serializers.DateField(help_text="After this day the document no longer counts; not in the past.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError({"file": "Upload a file or give a link (one of them)."})
        return attrs


class AssessmentSerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = serializers.SlugRelatedField(**USERNAME)
    request = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="Its two-person approval request (change request id)."
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = ImpactAssessment
        fields = [
            "id",
            "agent",
            "kind",
            "version",
            "status",
            "answers",
            "answers_sha256",
            "valid_until",
            "author",
            "request",
            "approved_at",
            "created_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return obj.get_absolute_url()


class _Text(serializers.CharField):
    """Text only: a number or a boolean is not an answer (DRF's CharField would store its str())."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AssessmentCreateSerializer(serializers.Serializer):
    """The next version of the agent's FRIA or DPIA, put to its two-person approval at once."""

    agent = serializers.SlugField(max_length=64, help_text="Agent slug.")
    kind = serializers.ChoiceField(choices=AssessmentKind.choices)
    answers = serializers.DictField(
        child=_Text(max_length=MAX_ANSWER_CHARS, allow_blank=True),
        help_text="One non-blank answer per question of the law, by key. "
        + "; ".join(f"{kind}: " + ", ".join(key for key, _ in questions) for kind, questions in QUESTIONS.items())
        + ".",
    )
    valid_until = serializers.DateField(help_text="Reassess by this day (in the future).")
    justification = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
