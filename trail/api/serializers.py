from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import AuditEntry

from ..explorer import EXPORT_COLUMNS


class AuditEntrySerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="The console page of the entry's object (or its entries).")

    class Meta:
        model = AuditEntry
        # The API reads what the exports write (one column list), plus the console link.
        fields = [*EXPORT_COLUMNS, "url"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_url(self, entry: AuditEntry) -> str:
        from django.urls import reverse

        return reverse("trail:entry_object", args=[entry.seq])
