from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="The console page of the entry's object (or its entries).")

    class Meta:
        model = AuditEntry
        fields = [
            "seq",
            "occurred_at",
            "actor_kind",
            "actor_id",
            "actor_label",
            "agent",
            "object_type",
            "object_id",
            "action",
            "summary",
            "payload",
            "content_hash",
            "prev_hash",
            "url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_url(self, entry: AuditEntry) -> str:
        from django.urls import reverse

        return reverse("trail:entry_object", args=[entry.seq])
