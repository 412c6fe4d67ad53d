from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.html import format_html, format_html_join
from guardian.admin import GuardedModelAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin

from .channel_models import AlertChannel, AlertRecord, Notification
from .governance import governed_field_names
from .models import (
    Agent,
    AgentVersion,
    ExternalIdentity,
    GlobalControls,
    Review,
    ReviewDossier,
    Scope,
    Team,
    Tool,
    ToolGrant,
    UserAPIKey,
)
from .rights_audit import entry_changes_words, person_rights_history
from .selectors import user_display_name


class GovernedAdminMixin:
    """Governed fields (``registry.governance``) are read-only here, for superusers too: they
    change through the matching approval request. Fields not settable on create (a new agent's
    status) are read-only on the add form as well; derived fields always."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        creating = obj is None and not isinstance(self, admin.options.InlineModelAdmin)
        governed = governed_field_names(self.model, creating=creating)
        return readonly + sorted(governed - set(readonly))


class ReadOnlyAdminMixin:
    """A record the admin shows and never adds, changes or deletes, superusers included (audit
    records, and what changes only through an approval request). For model admins and inlines."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ToolGrantInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Grants are part of a version's pinned bundle: added with a draft (console) or by a tool-grant
    request, never edited here."""

    model = ToolGrant
    extra = 0
    fields = ["tool", "constraints", "created_at"]
    readonly_fields = fields


class AgentVersionInline(GovernedAdminMixin, admin.TabularInline):
    model = AgentVersion
    extra = 0
    fields = ["label", "model_provider", "model_name", "state", "bundle_digest", "created_at"]
    readonly_fields = ["bundle_digest", "created_at"]
    show_change_link = True


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "member_count"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["members"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.members.count()


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    list_display = ["name", "kind"]
    list_filter = ["kind"]
    search_fields = ["name", "description"]


@admin.register(Agent)
class AgentAdmin(GovernedAdminMixin, GuardedModelAdmin):
    list_display = [
        "name",
        "slug",
        "risk_tier",
        "status",
        "owner_team",
        "owner",
        "side_effects_enabled",
        "next_review_due",
    ]
    list_filter = ["risk_tier", "status", "owner_team", "data_classification", "side_effects_enabled"]
    search_fields = ["name", "slug", "purpose"]
    autocomplete_fields = ["owner", "sponsor", "owner_team"]
    filter_horizontal = ["data_sources", "systems"]
    readonly_fields = ["next_review_due", "controls_revision", "created_at", "updated_at"]
    inlines = [AgentVersionInline]


@admin.register(AgentVersion)
class AgentVersionAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["agent", "label", "model_provider", "model_name", "state", "created_at"]
    list_filter = ["state", "model_provider", "agent__risk_tier", "agent__owner_team"]
    search_fields = ["label", "agent__name", "agent__slug", "model_name", "bundle_digest"]
    readonly_fields = ["bundle_digest", "created_at"]
    inlines = [ToolGrantInline]


@admin.register(Tool)
class ToolAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "system", "action_tier", "idempotent", "supports_dry_run"]
    list_filter = ["action_tier", "system", "idempotent"]
    search_fields = ["name", "system", "description"]


@admin.register(ToolGrant)
class ToolGrantAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["version", "tool", "created_at"]
    list_filter = ["tool__action_tier", "tool"]
    search_fields = ["version__agent__slug", "tool__name"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["agent", "kind", "status", "due_on", "reviewer", "outcome"]
    list_filter = ["kind", "status", "outcome", "agent__risk_tier"]
    search_fields = ["agent__name", "findings"]


@admin.register(ReviewDossier)
class ReviewDossierAdmin(admin.ModelAdmin):
    list_display = ["review", "prepared_at", "notified_at"]
    readonly_fields = ["snapshot"]


@admin.register(GlobalControls)
class GlobalControlsAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "changed_at", "changed_by"]

    def has_add_permission(self, request):
        return not GlobalControls.objects.exists()

    def has_change_permission(self, request, obj=None):
        # Superusers too: the fleet switch goes off from the incidents page and back on only
        # through a two-person fleet re-enable request (or the audited break-glass path).
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Which identity-provider account signs in as which person. An administrator links an IdP
    account to an existing user here (the sign-in refuses to merge on an unverified e-mail) or
    unlinks it by deleting the row; what the IdP reported (e-mail, when seen) is read-only."""

    list_display = ("user", "provider", "issuer", "subject", "email", "email_verified", "last_seen")
    list_filter = ("provider", "email_verified")
    search_fields = ("user__username", "issuer", "subject", "email")
    raw_id_fields = ("user",)
    readonly_fields = ("email", "email_verified", "first_seen", "last_seen")


@admin.register(UserAPIKey)
class UserAPIKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "user", "last_used_at")
    search_fields = (*APIKeyModelAdmin.search_fields, "user__username")


# --- people: their rights and their audit history (issue 13, item 6) -----------------------------

_User = get_user_model()
if admin.site.is_registered(_User):
    admin.site.unregister(_User)


@admin.register(_User)
class PersonAdmin(DjangoUserAdmin):
    """Django's user admin, plus the person's audit history (activation, superuser flag, roles,
    direct and per-agent permissions, each with who changed it) on their page."""

    readonly_fields = (*DjangoUserAdmin.readonly_fields, "rights_history")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Audit history", {"fields": ("rights_history",)}))

    @admin.display(description="who changed what")
    def rights_history(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            "<li>{} · {} · {} {}: {}</li>",
            (
                (
                    f"{e.timestamp:%Y-%m-%d %H:%M}",
                    user_display_name(e.actor),
                    e.get_action_display().lower(),
                    e.object_repr,
                    entry_changes_words(e) or "—",
                )
                for e in person_rights_history(obj)
            ),
        )
        return format_html('<ul data-testid="rights-history">{}</ul>', rows) if rows else "No entries yet."


# --- alert channels (registry.channels) ---------------------------------------------------------


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "team", "min_severity", "is_active"]
    list_filter = ["kind", "is_active"]
    # The secret (signing secret, PagerDuty routing key) is written once, never shown back; channels
    # are added on Monitors → Alert channels (registry.channels.alert_channel_create fills defaults).
    exclude = ["secret"]

    def has_add_permission(self, request):
        return False


@admin.register(AlertRecord)
class AlertRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "severity", "agent", "opened_at", "resolved_at"]
    list_filter = ["kind", "severity"]
    search_fields = ["dedup_key", "title"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["alert", "channel", "event", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "event"]
