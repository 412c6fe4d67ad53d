"""Rollups in the admin: read-only (derived data, recomputed from runs); the discovery queue and
discovery keys: read-only, changed only through their audited services."""

from django.contrib import admin, messages

from registry.admin import ReadOnlyAdminMixin

from .discovery import DiscoveryConflict, discovery_block, discovery_key_revoke
from .models import DailyRollup, Discovery, DiscoveryKey, RollupState


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    list_display = ["watermark", "last_run_at", "last_buckets"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DailyRollup)
class DailyRollupAdmin(admin.ModelAdmin):
    list_display = ["agent", "version", "bucket_start", "runs", "successes", "cost_usd"]
    list_filter = ["agent"]
    date_hierarchy = "bucket_start"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- discovery (issue 16) -------------------------------------------------------------------------
# Read-only: an entry is blocked or promoted only through the audited services
# (telemetry.discovery.discovery_block / discovery_promote_*), here as an admin action or from the
# console's discovery queue; a key is issued in the console (the secret is shown once) and revoked
# through discovery_key_revoke. No field is edited here and nothing is deleted.


@admin.register(Discovery)
class DiscoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "state", "span_count", "rejected_spans", "first_seen_at", "last_seen_at"]
    list_filter = ["kind", "state"]
    search_fields = ["name"]
    readonly_fields = [f.name for f in Discovery._meta.fields]
    actions = ["block_selected"]

    @admin.action(description="Block the selected unreviewed entries (their spans are then refused)")
    def block_selected(self, request, queryset):
        if not request.user.has_perm("telemetry.review_discovery"):
            self.message_user(request, "Blocking needs the permission to review discoveries.", messages.ERROR)
            return
        blocked = 0
        for entry in queryset:
            try:
                discovery_block(discovery_id=entry.pk, actor=request.user)
            except DiscoveryConflict as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                blocked += 1
        self.message_user(request, f"{blocked} entr{'y' if blocked == 1 else 'ies'} blocked.", messages.SUCCESS)


@admin.register(DiscoveryKey)
class DiscoveryKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prefix", "created", "expiry_date", "revoked", "last_used_at"]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix"]
    # Never the hashed secret.
    fields = readonly_fields = [
        "name", "prefix", "created", "expiry_date", "revoked", "revoked_at", "last_used_at", "created_by",
    ]  # fmt: skip
    actions = ["revoke_selected"]

    @admin.action(description="Revoke the selected discovery keys")
    def revoke_selected(self, request, queryset):
        if not request.user.has_perm("telemetry.change_discoverykey"):
            self.message_user(request, "Revoking needs the permission to change discovery keys.", messages.ERROR)
            return
        for key in queryset:
            discovery_key_revoke(key_id=key.pk, actor=request.user)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)
