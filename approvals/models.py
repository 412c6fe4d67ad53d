"""Approval requests, the decisions on them, their review checklists, and the policy that says
how many people (of which roles) must agree before a change to an agent takes effect."""

from __future__ import annotations

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from registry.choices import RiskTier

from .choices import ChecklistKey, RequestStatus, Verdict

SHA256_HEX = RegexValidator(r"^[0-9a-f]{64}$", "Must be a lowercase hex SHA-256 digest (64 characters).")


def default_eligible_roles() -> list[str]:
    from registry import roles

    return [roles.APPROVER, roles.GOVERNANCE_BOARD]


class ApprovalPolicy(models.Model):
    """Per request kind and risk tier: how many distinct approvers, from which roles.

    A row with a blank ``kind`` is the default for its tier; a row naming a kind overrides it.
    Whatever is configured here, the engine never goes below one approver who is not the
    requester, and a kind may impose a higher floor (re-enabling side effects always needs two).
    Requests keep a snapshot of the policy they were created under: editing a policy changes
    what future requests need, never what a pending one needs."""

    kind = models.CharField(max_length=40, blank=True, help_text="Blank = every kind without its own row.")
    risk_tier = models.PositiveSmallIntegerField(choices=RiskTier.choices)
    required_approvals = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct approvers needed, none of them the requester."
    )
    eligible_roles = models.JSONField(
        default=default_eligible_roles, help_text='Role (group) names whose members may decide, e.g. ["Approver"].'
    )
    require_board_outside_team = models.BooleanField(
        default=False,
        help_text="At least one approval must come from a governance-board member outside the owning team.",
    )
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "approval policies"
        ordering = ["risk_tier", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "risk_tier"], name="approvals_policy_unique_kind_tier"),
            models.CheckConstraint(condition=Q(required_approvals__gte=1), name="approvals_policy_at_least_one"),
            models.CheckConstraint(
                condition=Q(risk_tier__gte=1, risk_tier__lte=3), name="approvals_policy_risk_tier_1_3"
            ),
        ]

    def __str__(self) -> str:
        return f"Tier {self.risk_tier} {self.kind or 'any kind'}: {self.required_approvals} approver(s)"

    def clean(self) -> None:
        from registry.roles import ALL_ROLES

        roles = self.eligible_roles
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise ValidationError({"eligible_roles": "Give a non-empty list of role names."})
        unknown = sorted(set(roles) - set(ALL_ROLES))
        if unknown:
            raise ValidationError({"eligible_roles": f"Unknown role(s): {', '.join(unknown)}."})


class ApprovalRequest(models.Model):
    """A proposed change to an agent, carrying its exact effect as data (the payload) and the
    SHA-256 of that payload. Decisions bind to the hash they saw.

    ``agent`` is empty for a change to the whole fleet (re-enabling the fleet's side effects):
    such a request is decided by people holding ``approve_agent`` for every agent."""

    kind = models.CharField(max_length=40, db_index=True)
    agent = models.ForeignKey(
        "registry.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="approval_requests"
    )
    version = models.ForeignKey(
        "registry.AgentVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="approval_requests"
    )
    payload = models.JSONField()
    payload_hash = models.CharField(max_length=64, validators=[SHA256_HEX])
    # Null for requests raised by a non-human principal (an agent asking at runtime).
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="approval_requests"
    )
    justification = models.TextField(max_length=4000)
    policy_snapshot = models.JSONField(help_text="What this request needs, frozen at creation.")
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    blocked_reason = models.TextField(blank=True, help_text="Why an approved request is not applied yet.")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # After applying, "now" equals "after": the page shows this comparison, taken when applied.
    diff_at_apply = models.JSONField(
        null=True,
        blank=True,
        help_text="What would change, as it stood when the request was applied: [{label, current, proposed}].",
    )
    # The facts the apply went ahead on (kill switches, the version's bundle digest), frozen at
    # the apply; empty for requests applied before it was recorded (the why-page reconstructs those).
    apply_snapshot = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="approvals_request_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=RequestStatus.APPLIED) | Q(applied_at__isnull=False),
                name="approvals_request_applied_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status=RequestStatus.PENDING) | Q(decided_at__isnull=False),
                name="approvals_request_decided_has_time",
            ),
            # The same change cannot be open twice (a CI job retrying its POST gets a clear refusal).
            models.UniqueConstraint(
                fields=["agent", "kind", "payload_hash"],
                condition=Q(status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]),
                name="approvals_request_one_open_per_change",
            ),
            # The same for fleet-wide changes (no agent: NULLs never collide in the constraint above).
            models.UniqueConstraint(
                fields=["kind", "payload_hash"],
                condition=Q(agent__isnull=True, status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]),
                name="approvals_request_one_open_per_fleet_change",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"]), models.Index(fields=["agent", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind_label} for {self.target_name if self.agent_id is None else self.agent.slug}"

    @property
    def target_name(self) -> str:
        """What the request changes, in words: the agent's name, or the whole fleet."""
        return self.agent.name if self.agent_id is not None else "the whole fleet"

    def get_absolute_url(self) -> str:
        return reverse("approvals:request_detail", kwargs={"pk": self.pk})

    @property
    def kind_label(self) -> str:
        from .kinds import kind_label

        return kind_label(self.kind)

    @property
    def is_open(self) -> bool:
        return self.status in (RequestStatus.PENDING, RequestStatus.APPROVED)


class DecisionQuerySet(models.QuerySet):
    """Decisions are append-only: bulk update and delete are refused too."""

    def update(self, **kwargs):
        raise ValidationError("Decisions are never edited.")

    def delete(self):
        raise ValidationError("Decisions are never deleted.")


class Decision(models.Model):
    """One person's approve or deny on one request, with the reason and the payload hash seen.

    Append-only: ``save`` refuses to change a stored decision, ``delete`` is refused, and on
    PostgreSQL a trigger refuses UPDATE and DELETE from any client."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_decisions")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField(max_length=2000)
    payload_hash = models.CharField(max_length=64, validators=[SHA256_HEX])
    # Facts about the approver at the time of deciding (roles and teams change later).
    approver_roles = models.JSONField(default=list)
    board_outside_team = models.BooleanField(default=False)
    # How the approver's session was authenticated when they decided (registry.assurance): empty
    # and "none" for decisions made before this was recorded, or without a console session.
    auth_method = models.CharField("signed in with", max_length=20, blank=True)
    authenticated_at = models.DateTimeField("authenticated at", null=True, blank=True)
    assurance_level = models.CharField(
        max_length=10,
        choices=[("none", "none recorded"), ("aal1", "single factor"), ("aal2", "multi-factor")],
        default="none",
    )
    # The identity provider's subject, and the SHA-256 of the WebAuthn credential that verified the
    # session: two decisions sharing either are one person's (approvals.eligibility.same_person_groups).
    auth_subject = models.CharField(max_length=255, blank=True)
    auth_credential = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approvals_decision_unique_request_approver"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="approvals_decision_verdict_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="approvals_decision_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.get_verdict_display().lower()}d #{self.request_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError("Decisions are never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Decisions are never deleted.")


class ChecklistItem(models.Model):
    """One item of a deployment review checklist, ticked by a named person with evidence."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="checklist")
    key = models.CharField(max_length=30, choices=ChecklistKey.choices)
    position = models.PositiveSmallIntegerField(default=0)
    done = models.BooleanField(default=False)
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ticked_at = models.DateTimeField(null=True, blank=True)
    evidence = models.TextField(blank=True, max_length=2000, help_text="A link to the evidence, or a note.")
    automatic = models.BooleanField(default=False, help_text="Ticked by the system (e.g. a passing eval run).")

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(fields=["request", "key"], name="approvals_checklist_unique_key"),
            models.CheckConstraint(
                condition=Q(done=False)
                | (Q(ticked_at__isnull=False) & ~Q(evidence="") & (Q(ticked_by__isnull=False) | Q(automatic=True))),
                name="approvals_checklist_done_has_who_when_evidence",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.request_id} {self.get_key_display()}: {'done' if self.done else 'open'}"

    @property
    def evidence_is_link(self) -> bool:
        return self.evidence.startswith(("https://", "http://"))


auditlog.register(ApprovalPolicy)
auditlog.register(ApprovalRequest, exclude_fields=["updated_at"])
auditlog.register(Decision)
auditlog.register(ChecklistItem)
