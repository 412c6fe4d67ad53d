from rest_framework import serializers

from incidents.choices import DetectionSource, FailureMode, Severity
from incidents.models import Incident, TimelineEntry
from incidents.services import MAX_RUN_ID_LENGTH, MAX_RUN_IDS


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TimelineEntry
        fields = ["at", "actor", "kind", "from_status", "to_status", "note"]


class IncidentSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    # Nullable in the model (an incident may name no agent, version or commander yet).
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    version = serializers.SlugRelatedField(slug_field="label", read_only=True, allow_null=True)
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    time_to_mitigate_seconds = serializers.SerializerMethodField()
    time_to_resolve_seconds = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "agent",
            "fleet_wide",
            "version",
            "severity",
            "title",
            "status",
            "failure_mode",
            "detection_source",
            "detected_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "time_to_mitigate_seconds",
            "time_to_resolve_seconds",
            "customer_impact",
            "financial_impact_usd",
            "commander",
            "url",
        ]

    def get_time_to_mitigate_seconds(self, obj) -> int | None:
        return int(obj.time_to_mitigate.total_seconds()) if obj.time_to_mitigate is not None else None

    def get_time_to_resolve_seconds(self, obj) -> int | None:
        return int(obj.time_to_resolve.total_seconds()) if obj.time_to_resolve is not None else None

    def get_url(self, obj) -> str:
        return obj.get_absolute_url()


class IncidentDetailSerializer(IncidentSerializer):
    summary = serializers.CharField(read_only=True)
    run_ids = serializers.SerializerMethodField()
    timeline = TimelineEntrySerializer(many=True, read_only=True)
    postmortem_status = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "summary", "run_ids", "postmortem_status", "timeline"]

    def get_run_ids(self, obj) -> list[str]:
        return [link.run_id for link in obj.linked_runs.all()]

    def get_postmortem_status(self, obj) -> str | None:
        postmortem = getattr(obj, "postmortem", None)
        return postmortem.status if postmortem else None


class IncidentOpenSerializer(serializers.Serializer):
    """A report from monitoring (or a script). Linked to the agent's active incident if any."""

    agent = serializers.SlugField(max_length=64, help_text="The agent's slug.")
    severity = serializers.ChoiceField(choices=Severity.choices)
    title = serializers.CharField(max_length=200)
    failure_mode = serializers.ChoiceField(choices=FailureMode.choices, default=FailureMode.UNCLASSIFIED)
    detection_source = serializers.ChoiceField(choices=DetectionSource.choices, default=DetectionSource.MONITORING)
    summary = serializers.CharField(max_length=8000, required=False, allow_blank=True, default="")
    customer_impact = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    financial_impact_usd = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, default=None
    )
    run_ids = serializers.ListField(
        child=serializers.CharField(max_length=MAX_RUN_ID_LENGTH, allow_blank=False),
        max_length=MAX_RUN_IDS,
        required=False,
        default=list,
    )


class IncidentOpenResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the report was linked to the agent's active incident.")
    incident = IncidentSerializer()
