"""Response shapes of the agent endpoints (requests are the pydantic models in telemetry.schemas)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from telemetry.choices import ViolationKind


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    errors = ErrorItemSerializer(many=True)
    retry_after = serializers.IntegerField(required=False, allow_null=True)


@extend_schema_field({"type": "string", "enum": ["created", "duplicate", "invalid"]})
class ItemResultField(serializers.CharField):
    """created, duplicate or invalid."""


class RunResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    result = ItemResultField()
    run_id = serializers.CharField(allow_null=True)
    errors = ErrorItemSerializer(many=True, required=False)
    violations = serializers.ListField(child=serializers.ChoiceField(choices=ViolationKind.choices), required=False)


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    invalid = serializers.IntegerField()
    results = RunResultSerializer(many=True)


class VersionRefSerializer(serializers.Serializer):
    label = serializers.CharField()
    bundle_digest = serializers.CharField()
    model = serializers.CharField()
    policy_version = serializers.CharField()


class ControlsSerializer(serializers.Serializer):
    agent = serializers.CharField()
    side_effects_enabled = serializers.BooleanField(help_text="Effective: the agent's own switch AND the fleet's.")
    agent_side_effects_enabled = serializers.BooleanField()
    global_side_effects_enabled = serializers.BooleanField()
    deployed_version = VersionRefSerializer(allow_null=True)
    canary_version = VersionRefSerializer(allow_null=True)
    canary_share_pct = serializers.DecimalField(max_digits=5, decimal_places=2)
    policy_version = serializers.CharField(allow_null=True)
    revision = serializers.CharField(help_text="agent revision.fleet revision")

    class Meta:
        # Other apps merge their own keys (telemetry.extensions.controls_extras); clients must ignore unknown ones.
        ref_name = "Controls"


class WhoAmISerializer(serializers.Serializer):
    agent = serializers.CharField()
    key_prefix = serializers.CharField()
    key_expires_at = serializers.DateTimeField(allow_null=True)
