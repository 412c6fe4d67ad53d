"""Retention and legal hold: how long each family of records is kept, the agents whose records
are kept regardless (a legal hold), and the record of each purge."""

from __future__ import annotations

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.db.models import Q

from .choices import AI_ACT_MINIMUM_DAYS, LOG_FAMILIES, MAXIMUM_DAYS, RecordFamily


class RetentionRule(models.Model):
    """How many days one family of records is kept. One row per family, seeded with the
    defaults by migration; changed by the governance board on the retention page (audited)."""

    family = models.CharField(max_length=20, choices=RecordFamily.choices, unique=True)
    days = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["family"]
        constraints = [
            models.CheckConstraint(condition=Q(family__in=RecordFamily.values), name="trail_retention_family_valid"),
            models.CheckConstraint(condition=Q(days__gte=1, days__lte=MAXIMUM_DAYS), name="trail_retention_days_range"),
            # Logs in the AI Act's sense are kept at least six months (Art. 19, 26(6)).
            models.CheckConstraint(
                condition=~Q(family__in=LOG_FAMILIES) | Q(days__gte=AI_ACT_MINIMUM_DAYS),
                name="trail_retention_logs_six_months",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_family_display()}: {self.days} days"


class LegalHold(models.Model):
    """A legal hold on one agent: while it is active (not released), no purge touches any of the
    agent's records. Set and released by the governance board or an auditor, with a reason;
    both are audited. A released hold stays as a record."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="legal_holds")
    reason = models.TextField(max_length=2000)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-set_at"]
        constraints = [
            # Two people setting a hold at once: the second insert fails here.
            models.UniqueConstraint(
                fields=["agent"], condition=Q(released_at__isnull=True), name="trail_legalhold_one_active_per_agent"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="trail_legalhold_reason_required"),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | (Q(released_by__isnull=False) & ~Q(release_reason="")),
                name="trail_legalhold_release_has_who_and_why",
            ),
        ]

    def __str__(self) -> str:
        state = "active" if self.released_at is None else "released"
        return f"Legal hold on {self.agent} ({state})"

    @property
    def active(self) -> bool:
        return self.released_at is None


class PurgeRun(models.Model):
    """One run of the retention purge: when, the cut-off per family, what went, what was held."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    cutoffs = models.JSONField(default=dict, help_text="Per family: the ISO time before which records went.")
    counts = models.JSONField(default=dict, help_text="Per family: how many records were purged.")
    held_agents = models.JSONField(default=list, help_text="Slugs of the agents under legal hold, skipped.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Purge of {self.started_at:%Y-%m-%d %H:%M} UTC"


class ChainVerification(models.Model):
    """One walk of the audit chain (``registry.audit_chain.chain_verify``): when, by whom (none:
    the nightly purge), how far it got and the first bad entry if any. The explorer shows the
    latest one, so a page view never walks a million entries."""

    checked_at = models.DateTimeField(auto_now_add=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ok = models.BooleanField()
    entries_checked = models.PositiveBigIntegerField(default=0)
    first_seq = models.PositiveBigIntegerField(default=1)
    head_seq = models.PositiveBigIntegerField(default=0)
    bad_seq = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-checked_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ok=True, bad_seq__isnull=True) | Q(ok=False, bad_seq__isnull=False),
                name="trail_chainverification_bad_seq_iff_failed",
            )
        ]

    def __str__(self) -> str:
        return f"Chain {'verified' if self.ok else 'BROKEN'} at {self.checked_at:%Y-%m-%d %H:%M} UTC"


auditlog.register(RetentionRule, exclude_fields=["updated_at"])
auditlog.register(LegalHold)
auditlog.register(PurgeRun)
