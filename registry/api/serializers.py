from rest_framework import serializers

from registry.models import Agent, AgentVersion, ToolGrant


class ToolGrantSerializer(serializers.ModelSerializer):
    tool = serializers.SlugRelatedField(slug_field="name", read_only=True)
    action_tier = serializers.IntegerField(source="tool.action_tier", read_only=True)

    class Meta:
        model = ToolGrant
        fields = ["tool", "action_tier", "constraints"]


class AgentVersionSerializer(serializers.ModelSerializer):
    grants = ToolGrantSerializer(many=True, read_only=True)

    class Meta:
        model = AgentVersion
        fields = [
            "id",
            "label",
            "model_provider",
            "model_name",
            "prompt_ref",
            "policy_version",
            "state",
            "bundle_digest",
            "grants",
            "created_at",
            "approved_at",
            "deployed_at",
        ]


class AgentSerializer(serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Agent
        fields = [
            "slug",
            "name",
            "purpose",
            "risk_tier",
            "status",
            "owner_team",
            "owner",
            "unit_of_work",
            "kpi_name",
            "side_effects_enabled",
            "canary_share_pct",
            "next_review_due",
        ]


class AgentDetailSerializer(AgentSerializer):
    versions = AgentVersionSerializer(many=True, read_only=True)

    class Meta(AgentSerializer.Meta):
        fields = [*AgentSerializer.Meta.fields, "versions"]
