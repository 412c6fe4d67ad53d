from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.choices import Verdict
from approvals.kinds import kind_get
from approvals.models import ApprovalRequest, ChecklistItem, Decision
from approvals.services import approvals_tally

MAX_JUSTIFICATION = 4000


class ChangeRequestInputSerializer(serializers.Serializer):
    agent = serializers.SlugField(
        max_length=64, required=False, allow_null=True, help_text="The agent's slug; none for a fleet-wide kind."
    )
    kind = serializers.CharField(max_length=40, help_text="go_live, new_version, tool_grant, rollout_step, …")
    payload = serializers.JSONField(
        required=False, default=dict, help_text='The proposed effect, e.g. {"version": "1.4"} for go_live.'
    )
    justification = serializers.CharField(max_length=MAX_JUSTIFICATION)

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The payload must be a JSON object.")
        return value


class DecisionSerializer(serializers.ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)
    counts = serializers.SerializerMethodField(help_text="False for an approval given to an earlier payload.")

    class Meta:
        model = Decision
        fields = ["approver", "verdict", "reason", "payload_hash", "counts", "decided_at"]

    def get_counts(self, obj) -> bool:
        return obj.verdict == Verdict.APPROVE and obj.payload_hash == obj.request.payload_hash


class ChecklistItemSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="get_key_display", read_only=True)
    ticked_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ChecklistItem
        fields = ["key", "label", "done", "ticked_by", "ticked_at", "evidence", "automatic"]


class ChangeRequestSerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Null for a fleet-wide request."
    )
    version = serializers.SlugRelatedField(slug_field="label", read_only=True, allow_null=True)
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    required_approvals = serializers.IntegerField(source="policy_snapshot.required_approvals", read_only=True)
    approvals = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    status = serializers.CharField(
        read_only=True, help_text="pending, approved (not yet applied), denied, withdrawn, expired, applied"
    )
    decisions = DecisionSerializer(many=True, read_only=True)
    checklist = ChecklistItemSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "url",
            "kind",
            "agent",
            "version",
            "status",
            "payload",
            "payload_hash",
            "requester",
            "justification",
            "required_approvals",
            "approvals",
            "summary",
            "blocked_reason",
            "policy_snapshot",
            "created_at",
            "expires_at",
            "decided_at",
            "applied_at",
            "decisions",
            "checklist",
        ]

    def get_approvals(self, obj) -> int:
        return approvals_tally(obj, list(obj.decisions.all())).count

    def get_summary(self, obj) -> str:
        return approvals_tally(obj, list(obj.decisions.all())).summary

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class WarningSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line of the text the warning is about (1-based).")
    column = serializers.IntegerField(help_text="Column in that line (1-based).")
    message = serializers.CharField()
    code = serializers.CharField(help_text="e.g. allows_any_amount, enum_uncovered, never_fired")
    where = serializers.CharField(help_text="Which text line and column count in: rules or fields.")


class ChangeRequestCreatedSerializer(ChangeRequestSerializer):
    """The 201 answer: the request, plus the warnings its kind has for it (advice, not a refusal)."""

    warnings = serializers.SerializerMethodField(
        help_text="Warnings on the proposed change (e.g. an action policy's static analysis); empty if none."
    )

    class Meta(ChangeRequestSerializer.Meta):
        fields = [*ChangeRequestSerializer.Meta.fields, "warnings"]

    @extend_schema_field(WarningSerializer(many=True))
    def get_warnings(self, obj) -> list[dict]:
        hook = kind_get(obj.kind).warnings
        return hook(obj) if hook else []
