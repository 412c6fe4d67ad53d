"""What exists and who owns it: teams, agents, their pinned versions, the tool catalog."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from .cadence import add_months
from .canonical import canonical_sha256, tool_definition_hash
from .choices import (
    ActionTier,
    ActorKind,
    AgentStatus,
    BudgetAction,
    DataClassification,
    IdentityProviderKind,
    ReviewKind,
    ReviewOutcome,
    ReviewStatus,
    RiskTier,
    ScopeKind,
    SpendPeriod,
    VersionState,
)

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]
NON_NEGATIVE = [MinValueValidator(Decimal("0"))]
SHA256_HEX = RegexValidator(r"^[0-9a-f]{64}$", "Must be a lowercase hex SHA-256 digest (64 characters).")


class Team(models.Model):
    """A group of people that owns agents. Membership matters for tier-1 approvals,
    where at least one approver must come from outside the owning team."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="quorum_teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Scope(models.Model):
    """A data source an agent reads or a business system it may touch."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=ScopeKind.choices)
    description = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """An AI agent running (or proposed to run) with real permissions.

    The risk tier decides how often it is reviewed and how many people must approve
    changes to it; the runtime controls (kill switch, canary) are what the agent reads
    through the API before acting.
    """

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used by the API.")
    name = models.CharField(max_length=120)
    purpose = models.TextField(max_length=4000, help_text="One paragraph: what the agent does and for whom.")
    unit_of_work = models.CharField(max_length=120, help_text='For example "ticket resolved".')
    kpi_name = models.CharField("primary KPI", max_length=120)
    kpi_baseline = models.DecimalField("KPI baseline", max_digits=14, decimal_places=4, null=True, blank=True)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="agents")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_agents")
    sponsor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sponsored_agents", null=True, blank=True
    )
    risk_tier = models.PositiveSmallIntegerField(choices=RiskTier.choices, default=RiskTier.TIER_2)
    channels = models.JSONField(default=list, blank=True, help_text="Channel codes, for example chat, email.")
    data_classification = models.CharField(
        max_length=20, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    data_sources = models.ManyToManyField(
        Scope, related_name="reading_agents", blank=True, limit_choices_to={"kind": ScopeKind.DATA_SOURCE}
    )
    systems = models.ManyToManyField(
        Scope, related_name="acting_agents", blank=True, limit_choices_to={"kind": ScopeKind.SYSTEM}
    )
    status = models.CharField(max_length=20, choices=AgentStatus.choices, default=AgentStatus.PROPOSED)

    success_threshold_pct = models.DecimalField(
        "task success threshold (%)", max_digits=5, decimal_places=2, default=Decimal("92.00"), validators=PERCENT
    )
    escalation_threshold_pct = models.DecimalField(
        "escalation ceiling (%)", max_digits=5, decimal_places=2, default=Decimal("8.00"), validators=PERCENT
    )
    monthly_budget_usd = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    human_cost_per_minute_usd = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0.75"), validators=NON_NEGATIVE
    )
    human_minutes_per_unit = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("8"), validators=NON_NEGATIVE
    )
    monthly_infra_cost_usd = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    monthly_ops_cost_usd = models.DecimalField(
        "monthly operations and maintenance cost (USD)",
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=NON_NEGATIVE,
    )

    deployed_at = models.DateTimeField(null=True, blank=True, help_text="First go-live in production.")
    last_reviewed_on = models.DateField(null=True, blank=True)
    next_review_due = models.DateField(null=True, blank=True, editable=False)

    # Runtime controls, read by the agent through /api/v1/controls/.
    side_effects_enabled = models.BooleanField(default=True, help_text="Off = the agent's kill switch is pulled.")
    canary_version = models.ForeignKey(
        "AgentVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    canary_share_pct = models.DecimalField(
        "canary traffic share (%)", max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT
    )
    controls_revision = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped on every runtime-control change; the API's ETag."
    )

    # Budgets that act (issue 18). ``monthly_budget_usd`` is the soft cap (an alert); these are
    # enforced by the action gate (``registry/budgets.py``). 0 means no cap. Governed: a scope change.
    budget_hard_cap_usd = models.DecimalField(
        "hard monthly cap (USD)", max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    budget_hard_cap_action = models.CharField(
        "at the hard cap", max_length=20, choices=BudgetAction.choices, default=BudgetAction.DENY_SIDE_EFFECTS
    )
    budget_day_cost_usd = models.DecimalField(
        "daily cost ceiling (USD)", max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    budget_day_steps = models.PositiveIntegerField("daily step ceiling", default=0)
    budget_session_cost_usd = models.DecimalField(
        "session cost ceiling (USD)", max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    budget_session_steps = models.PositiveIntegerField("session step ceiling", default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("approve_agent", "Can decide approval requests for this agent"),
            ("operate_agent", "Can operate this agent's runtime controls (kill switch)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_tier__gte=1, risk_tier__lte=3), name="registry_agent_risk_tier_1_3"
            ),
            models.CheckConstraint(
                condition=Q(canary_share_pct__gte=0, canary_share_pct__lte=100), name="registry_agent_canary_share_pct"
            ),
            models.CheckConstraint(
                condition=Q(success_threshold_pct__gte=0, success_threshold_pct__lte=100)
                & Q(escalation_threshold_pct__gte=0, escalation_threshold_pct__lte=100),
                name="registry_agent_thresholds_are_percentages",
            ),
            models.CheckConstraint(
                condition=Q(monthly_budget_usd__gte=0)
                & Q(human_cost_per_minute_usd__gte=0)
                & Q(human_minutes_per_unit__gte=0)
                & Q(monthly_infra_cost_usd__gte=0)
                & Q(monthly_ops_cost_usd__gte=0),
                name="registry_agent_money_non_negative",
            ),
            models.CheckConstraint(condition=Q(status__in=AgentStatus.values), name="registry_agent_status_valid"),
            models.CheckConstraint(
                condition=Q(budget_hard_cap_usd__gte=0, budget_day_cost_usd__gte=0, budget_session_cost_usd__gte=0)
                & Q(budget_hard_cap_action__in=BudgetAction.values),
                name="registry_agent_budget_caps_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "risk_tier"]), models.Index(fields=["next_review_due"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:agent_detail", kwargs={"slug": self.slug})

    @property
    def review_cadence_months(self) -> int:
        return settings.REVIEW_CADENCE_MONTHS[int(self.risk_tier)]

    def compute_next_review_due(self) -> date | None:
        """Rule: tier 1 every 3 months, tier 2 every 6, tier 3 every 12, counted from the
        last review, or from go-live if the agent was never reviewed. Not live, no date."""
        if self.last_reviewed_on:
            base = self.last_reviewed_on
        elif self.deployed_at:
            base = timezone.localdate(self.deployed_at)
        else:
            return None
        return add_months(base, self.review_cadence_months)

    @property
    def deployed_version(self) -> AgentVersion | None:
        return self.versions.filter(state=VersionState.DEPLOYED).first()

    @property
    def review_is_overdue(self) -> bool:
        return bool(self.next_review_due and self.next_review_due < timezone.localdate())

    def save(self, *args, **kwargs) -> None:
        self.next_review_due = self.compute_next_review_due()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "next_review_due", "updated_at"}
        super().save(*args, **kwargs)


class GlobalControls(models.Model):
    """The fleet-wide kill switch. A single row (pk = 1), enforced by a constraint."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    side_effects_enabled = models.BooleanField(default=True)
    revision = models.PositiveIntegerField(default=1, editable=False)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, max_length=2000)

    class Meta:
        verbose_name = "global controls"
        verbose_name_plural = "global controls"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="registry_globalcontrols_singleton")]

    def __str__(self) -> str:
        return "Fleet side effects: " + ("enabled" if self.side_effects_enabled else "DISABLED")

    @classmethod
    def load(cls) -> GlobalControls:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Tool(models.Model):
    """A capability an agent may be granted, such as ``payments.refund``.

    The action tier says how dangerous it is: 0 read-only, 1 draft, 2 low-risk write,
    3 high-risk write, 4 production control."""

    name = models.CharField(
        max_length=120,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", "Use dotted lower-case, e.g. payments.refund.")
        ],
    )
    system = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    action_tier = models.PositiveSmallIntegerField(choices=ActionTier.choices)
    idempotent = models.BooleanField(default=False)
    supports_dry_run = models.BooleanField(default=False)
    constraint_schema = models.JSONField(
        default=dict,
        blank=True,
        help_text='The constraints a grant of this tool may set, e.g. {"max_amount_usd": {"parameter": '
        '"amount_usd"}, "max_per_hour": {}, "max_per_day": {}, "allowed_values": {"fields": ["currency"]}}.',
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action_tier__gte=0, action_tier__lte=4), name="registry_tool_action_tier_0_4"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .grant_constraints import schema_validate

        schema_validate(self.constraint_schema)

    @property
    def has_side_effects(self) -> bool:
        """Draft-only and read-only tools change nothing outside; tier 2 and up do."""
        return self.action_tier >= ActionTier.LOW_RISK_WRITE


class AgentVersion(models.Model):
    """A pinned configuration of an agent.

    Its bundle digest is the SHA-256 of the canonical pinned configuration (model,
    prompt hash, policy version, tool grants with their constraints). Past the draft
    state the pinned parts are frozen: changing any of them makes a new version."""

    PINNED_FIELDS = ("model_provider", "model_name", "prompt_ref", "policy_version")
    EDITABLE_STATES = (VersionState.DRAFT,)

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    label = models.CharField(
        max_length=40,
        validators=[RegexValidator(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]*$", "Letters, digits and . - _ + only.")],
    )
    model_provider = models.CharField(max_length=60)
    model_name = models.CharField(max_length=120)
    prompt_ref = models.CharField("prompt hash", max_length=64, validators=[SHA256_HEX])
    policy_version = models.CharField(max_length=40, default="1")
    changelog = models.TextField(blank=True, max_length=8000)
    state = models.CharField(max_length=20, choices=VersionState.choices, default=VersionState.DRAFT)
    bundle_digest = models.CharField(max_length=64, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agent", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "label"], name="registry_agentversion_unique_label_per_agent"),
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(state=VersionState.DEPLOYED),
                name="registry_agentversion_one_deployed_per_agent",
            ),
            models.CheckConstraint(
                condition=Q(state__in=VersionState.values), name="registry_agentversion_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} {self.label}"

    def get_absolute_url(self) -> str:
        return reverse("registry:agent_detail", kwargs={"slug": self.agent.slug}) + f"#version-{self.pk}"

    @property
    def is_editable(self) -> bool:
        return self.state in self.EDITABLE_STATES

    def canonical_bundle(self) -> dict:
        grants = []
        if self.pk:
            grants = [
                {"tool": g.tool.name, "constraints": g.constraints}
                for g in self.grants.select_related("tool").order_by("tool__name")
            ]
        bundle = {
            "model_provider": self.model_provider,
            "model": self.model_name,
            "prompt_hash": self.prompt_ref,
            "policy_version": self.policy_version,
            "tools": grants,
        }
        if self.pk:
            # MCP tool definitions are part of the bundle only when a version pins some: a
            # version without pins hashes exactly as before pins existed (every stored digest
            # and every approval bound to one stays valid: tests/test_digests_unchanged.py).
            pins = [{"name": p.name, "sha256": p.definition_hash} for p in self.tool_pins.order_by("name")]
            if pins:
                bundle["tool_pins"] = pins
        return bundle

    def compute_bundle_digest(self) -> str:
        return canonical_sha256(self.canonical_bundle())

    def clean(self) -> None:
        if self.pk and not self.is_editable:
            stored = AgentVersion.objects.filter(pk=self.pk).values(*self.PINNED_FIELDS).first()
            if stored and any(stored[f] != getattr(self, f) for f in self.PINNED_FIELDS):
                raise ValidationError("This version is no longer a draft; change its configuration in a new version.")

    def save(self, *args, **kwargs) -> None:
        # The pinned parts of a reviewed version are what approvals and evals bound to.
        self.clean()
        self.bundle_digest = self.compute_bundle_digest()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "bundle_digest"}
        super().save(*args, **kwargs)

    def refresh_bundle_digest(self) -> None:
        digest = self.compute_bundle_digest()
        if digest != self.bundle_digest:
            self.bundle_digest = digest
            AgentVersion.objects.filter(pk=self.pk).update(bundle_digest=digest)


class ToolGrant(models.Model):
    """A version's permission to use a tool, with constraints (for example a maximum amount)."""

    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="grants")
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="grants")
    constraints = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tool__name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "tool"], name="registry_toolgrant_unique_tool_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.version} → {self.tool}"

    def clean(self) -> None:
        if not isinstance(self.constraints, dict):
            raise ValidationError({"constraints": "Constraints must be a JSON object."})
        if self.version_id and not self.version.is_editable:
            raise ValidationError("Grants of a reviewed version are frozen; grant the tool in a new version.")

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)
        self.version.refresh_bundle_digest()

    def delete(self, *args, **kwargs):
        if not self.version.is_editable:
            raise ValidationError("Grants of a reviewed version are frozen; revoke the tool in a new version.")
        result = super().delete(*args, **kwargs)
        self.version.refresh_bundle_digest()
        return result


class ToolPin(models.Model):
    """An MCP tool definition a version was approved with (issue 17): the upstream tool's name,
    description and input schema, and the SHA-256 of their canonical JSON
    (:func:`registry.canonical.tool_definition_hash`).

    The MCP gateway shows the agent only upstream tools whose definition hash is pinned in the
    deployed version; a changed description or schema (a "rug pull") hides the tool until a
    ``tool_pin`` change request pins the new definition in a new version. Like grants, pins are
    frozen past the draft state and count in the version's bundle digest."""

    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="tool_pins")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=8000)
    input_schema = models.JSONField(default=dict, blank=True)
    definition_hash = models.CharField(max_length=64, editable=False, validators=[SHA256_HEX])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="registry_toolpin_unique_name_per_version"),
            models.CheckConstraint(
                condition=Q(definition_hash__regex=r"^[0-9a-f]{64}$"), name="registry_toolpin_hash_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} pins {self.name}"

    def clean(self) -> None:
        if not isinstance(self.input_schema, dict):
            raise ValidationError({"input_schema": "The input schema must be a JSON object."})
        if self.version_id and not self.version.is_editable:
            raise ValidationError("Pins of a reviewed version are frozen; pin the tool in a new version.")

    def save(self, *args, **kwargs) -> None:
        self.clean()
        # The hash is derived, never typed: it is what the gateway compares.
        self.definition_hash = tool_definition_hash(
            name=self.name, description=self.description, input_schema=self.input_schema
        )
        super().save(*args, **kwargs)
        self.version.refresh_bundle_digest()


class Review(models.Model):
    """Periodic (or ad-hoc) oversight of one agent by the governance board."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="reviews")
    kind = models.CharField(max_length=20, choices=ReviewKind.choices, default=ReviewKind.SCHEDULED)
    status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    due_on = models.DateField()
    reason = models.CharField(max_length=300, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews_done"
    )
    findings = models.TextField(blank=True, max_length=20000)
    outcome = models.CharField(max_length=20, choices=ReviewOutcome.choices, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on"]
        constraints = [
            # One open scheduled review per agent and due date: the beat task may run twice.
            models.UniqueConstraint(
                fields=["agent", "due_on"],
                condition=Q(kind=ReviewKind.SCHEDULED),
                name="registry_review_one_scheduled_per_due_date",
            ),
            # An orphaned agent gets one open review, however often its owner's account is saved.
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(kind=ReviewKind.ORPHANED, status=ReviewStatus.OPEN),
                name="registry_review_one_open_orphaned",
            ),
            models.CheckConstraint(
                condition=Q(status=ReviewStatus.OPEN) | (Q(completed_at__isnull=False) & ~Q(outcome="")),
                name="registry_review_completed_has_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} review of {self.agent} due {self.due_on}"


class ReviewDossier(models.Model):
    """What a review is about, pre-filled for its period when it opens: metrics against
    thresholds, cost against budget, incidents, eval trend, compliance violations. The
    figures come from the apps above registry through ``registry.reviews``' extension point;
    the snapshot keeps them as they were, so a completed review keeps what it was decided on.

    ``notified_at`` is claimed by compare-and-set before the e-mails go out, so a beat task
    that runs twice (or a redelivered e-mail task) never mails the owner and board twice."""

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="dossier")
    snapshot = models.JSONField(default=dict)
    prepared_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Dossier for {self.review}"


class UserAPIKey(AbstractAPIKey):
    """A person's API token for CI and scripts (``Authorization: Token <key>``).

    Stored hashed; the key is shown once. It acts with exactly its user's rights."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "user API key"
        verbose_name_plural = "user API keys"


class AgentAPIKey(AbstractAPIKey):
    """An agent's own credential (``Authorization: Bearer <prefix.secret>``): next to people's
    tokens, since agents are principals too and every app above authenticates them.

    Stored hashed (the secret is shown once, at issue); the prefix stays visible so
    people can tell keys apart. A key acts only as its own agent: every telemetry and
    controls request is answered for ``agent`` and nothing else. The table keeps the name it
    had when telemetry owned the model (``telemetry_agentapikey``), so no key was lost."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rotated_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "agent API key"
        verbose_name_plural = "agent API keys"
        db_table = "telemetry_agentapikey"
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked=False) | Q(revoked_at__isnull=False), name="telemetry_agentapikey_revoked_has_time"
            ),
        ]

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.has_expired

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.has_expired:
            return "expired"
        return "active"


class ExternalIdentity(models.Model):
    """A person's account at an identity provider (OpenID Connect or SAML), linked to one local user.

    ``(issuer, subject)`` names one IdP account and is unique: an IdP account signs in as exactly
    one local user. A user may hold several (two IdPs, or an OIDC and a SAML account). Two local
    users linked to the same IdP subject, or sharing a verified e-mail, are one person for the
    two-person rule. ``email``/``email_verified`` are what the IdP said at the last sign-in."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    provider = models.CharField(max_length=8, choices=IdentityProviderKind.choices)
    issuer = models.CharField(max_length=500, help_text="OIDC issuer URL or SAML IdP entity id.")
    subject = models.CharField(max_length=500, help_text="OIDC 'sub' claim or SAML NameID.")
    email = models.EmailField(blank=True, max_length=254)
    email_verified = models.BooleanField(default=False)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["issuer", "subject"]
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="registry_externalidentity_issuer_subject"),
            models.CheckConstraint(
                condition=Q(provider__in=["oidc", "saml"]), name="registry_externalidentity_provider_known"
            ),
            models.CheckConstraint(condition=~Q(subject=""), name="registry_externalidentity_subject_nonempty"),
        ]
        indexes = [models.Index(fields=["email"], name="registry_extid_email_idx")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.issuer} | {self.subject}"


HEX64 = RegexValidator(r"^[0-9a-f]{64}$", "a lower-case hex SHA-256")


class AuditEntry(models.Model):
    """One entry of the tamper-evident audit chain (issue 15, item 1).

    Every audited event (model changes recorded by django-auditlog, decisions, gate decisions,
    kill-switch pulls, logins, permission changes, break-glass) is appended here by
    ``registry.audit_chain.chain_append`` in the business transaction. ``content_hash`` is the
    SHA-256 of the entry's canonical content (``AuditEntry.chain_content``), which includes
    ``seq`` and ``prev_hash``; ``prev_hash`` is the previous entry's ``content_hash`` (64 zeros
    for the first entry). So changing, deleting or inserting a row breaks the links from there
    on, and the signed checkpoints (:class:`AuditCheckpoint`) pin the head.

    The database refuses UPDATE and DELETE on these rows (trigger in ``registry`` migration
    0009); only ``chain_prune_before`` may delete whole checkpointed segments.
    """

    seq = models.BigIntegerField(unique=True, help_text="Position in the chain: 1, 2, 3… with no gaps.")
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="The person's or agent's id, if any.")
    actor_label = models.CharField(max_length=200, blank=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(max_length=100, blank=True, help_text='"app_label.model"')
    object_id = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=60)
    summary = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, unique=True, validators=[HEX64])
    prev_hash = models.CharField(max_length=64, unique=True, validators=[HEX64])

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["occurred_at"], name="registry_audit_time"),
            models.Index(fields=["actor_kind", "actor_id"], name="registry_audit_actor"),
            models.Index(fields=["agent", "seq"], name="registry_audit_agent"),
            models.Index(fields=["object_type", "object_id"], name="registry_audit_object"),
            models.Index(fields=["action"], name="registry_audit_action"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="registry_auditentry_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def chain_content(self) -> dict:
        """The content ``content_hash`` is computed from (canonical JSON, see ``canonical.py``);
        the standalone verifier rebuilds exactly this dict from an exported line."""
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "actor_kind": self.actor_kind,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "agent_id": self.agent_id,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "action": self.action,
            "summary": self.summary,
            "payload": self.payload,
        }


class AuditCheckpoint(models.Model):
    """A signed statement "the chain's entry ``seq`` has hash ``head_hash``" (Ed25519).

    The signature covers :meth:`signed_message`; ``public_key`` is the raw 32-byte key in hex and
    ``key_id`` the first 16 hex digits of its SHA-256, which an auditor pins. Never edited or
    deleted (same trigger as the entries): pruning keeps the checkpoints as the signed heads of
    what it removed."""

    seq = models.BigIntegerField(help_text="The chain entry this checkpoint signs (0: the empty chain).")
    head_hash = models.CharField(max_length=64, validators=[HEX64])
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    public_key = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq", "id"]
        indexes = [models.Index(fields=["seq"], name="registry_audit_checkpoint_seq")]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.signed_at:%Y-%m-%d %H:%M} UTC)"

    def statement(self) -> dict:
        return {
            "kind": "quorum.audit.checkpoint/v1",
            "seq": self.seq,
            "head_hash": self.head_hash,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "key_id": self.key_id,
        }


class AuditPrune(models.Model):
    """A record that entries up to and including ``checkpoint.seq`` were deleted by retention.

    Verification starts after the latest prune, from the checkpoint's signed head; without this
    row missing entries are reported as deleted."""

    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="prunes")
    through_seq = models.BigIntegerField()
    pruned_at = models.DateTimeField(default=timezone.now)
    entries_deleted = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["through_seq"]

    def __str__(self) -> str:
        return f"pruned through #{self.through_seq}"


class SpendCounter(models.Model):
    """An agent's spend and steps in one period: a month (``2026-11``), a day (``2026-11-30``) or a
    session (the id the agent sends). Written only by ``registry/budgets.py`` with atomic upserts
    (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so web nodes racing each other never lose an
    increment and the hard cap is checked against the row as committed."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="spend_counters")
    period = models.CharField(max_length=8, choices=SpendPeriod.choices)
    key = models.CharField(max_length=100)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal("0"))
    steps = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "period", "key"], name="registry_spend_one_row_per_period"),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="registry_spend_non_negative"),
            models.CheckConstraint(condition=Q(period__in=SpendPeriod.values), name="registry_spend_period_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.period} {self.key}: {self.cost_usd} USD, {self.steps} steps"


class BudgetBreach(models.Model):
    """The month an agent reached its hard cap, and what the gate did. One per agent and month (the
    constraint): the configured action (and its alert, kill switch and incident) is applied by the
    one request whose insert wins, however many race past the cap."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="budget_breaches")
    month = models.CharField(max_length=7)
    action = models.CharField(max_length=20, choices=BudgetAction.choices)
    hard_cap_usd = models.DecimalField(max_digits=14, decimal_places=2)
    spend_usd = models.DecimalField(max_digits=16, decimal_places=6)
    reached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reached_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "month"], name="registry_budget_breach_once_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} reached its hard cap in {self.month}: {self.action}"


auditlog.register(Team, m2m_fields={"members"})
auditlog.register(Scope)
auditlog.register(Agent, m2m_fields={"data_sources", "systems"}, exclude_fields=["updated_at", "next_review_due"])
auditlog.register(GlobalControls)
auditlog.register(Tool)
auditlog.register(AgentVersion)
auditlog.register(ToolGrant)
auditlog.register(ToolPin)
auditlog.register(BudgetBreach)
auditlog.register(Review)
auditlog.register(ReviewDossier, exclude_fields=["snapshot"])
auditlog.register(AgentAPIKey, exclude_fields=["hashed_key", "id", "last_used_at"])
auditlog.register(ExternalIdentity, exclude_fields=["last_seen"])

# Alert channels and notifications (registry.channels): models of their own module, registered here.
from .channel_models import AlertChannel, AlertPreference, AlertRecord, Notification  # noqa: E402,F401

auditlog.register(AlertChannel, exclude_fields=["secret"])
auditlog.register(AlertPreference)
