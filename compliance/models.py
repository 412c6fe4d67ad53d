"""The compliance workbench's records.

Intake, documents and impact assessments (this hunk) belong to ``compliance/intake.py``,
``compliance/documents.py`` and ``compliance/assessments.py``; the framework mapping, the
serious-incident clock and drills add their models below in their own hunks."""

from __future__ import annotations

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from registry.models import Agent, Team

from .choices import AssessmentKind, AssessmentStatus, DocumentKind, IntakeStatus

# --- intake ------------------------------------------------------------------------------------

# The playbook's five dimensions (seed "First-agent selection scorecard"), each scored 1-5.
SCORE_MIN, SCORE_MAX = 1, 5
# Its bonus dimensions, worth 1-3 extra points each (0: not claimed).
BONUS_MAX = 3
# The playbook: a five-dimension total of 20 or more is a strong candidate (15 or less: skip).
GO_THRESHOLD = 20


class Intake(models.Model):
    """A proposal for a new agent, before it exists in the registry.

    Anyone signed in proposes; the governance board scores the five playbook dimensions; only an
    intake whose five-dimension total reaches the go threshold may become a proposed agent
    (``compliance.intake.intake_convert``), and then it points at that agent for good."""

    title = models.CharField(max_length=120, help_text="A short name for the use case.")
    problem = models.TextField(max_length=4000, help_text="What goes wrong today, and for whom.")
    unit_of_work = models.CharField(max_length=120, help_text='For example "ticket resolved".')
    daily_volume = models.PositiveIntegerField(
        "interactions a day at full scale", help_text="The playbook's bar is 100 a day or more."
    )
    data_involved = models.TextField(max_length=2000, help_text="Which data the agent would read or write.")
    systems_touched = models.TextField(max_length=2000, help_text="Which systems the agent would act on.")
    human_baseline = models.TextField(
        max_length=2000, help_text="How people do it today: minutes per unit, error rate, cost."
    )
    human_minutes_per_unit = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Minutes a person spends per unit of work."
    )
    kpi_name = models.CharField("primary success metric", max_length=120)
    # The proposer's answers to the five dimensions, one sentence each, for the board to score.
    scope_answer = models.TextField("scope narrowness", max_length=2000)
    volume_answer = models.TextField("volume", max_length=2000)
    failure_answer = models.TextField("failure tolerability", max_length=2000)
    data_answer = models.TextField("data availability", max_length=2000)
    metric_answer = models.TextField("metric clarity", max_length=2000)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="intakes")
    proposer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="intakes")
    status = models.CharField(max_length=20, choices=IntakeStatus.choices, default=IntakeStatus.SUBMITTED)

    score_scope = models.PositiveSmallIntegerField(null=True, blank=True)
    score_volume = models.PositiveSmallIntegerField(null=True, blank=True)
    score_failure = models.PositiveSmallIntegerField(null=True, blank=True)
    score_data = models.PositiveSmallIntegerField(null=True, blank=True)
    score_metric = models.PositiveSmallIntegerField(null=True, blank=True)
    bonus_disliked = models.PositiveSmallIntegerField(default=0)
    bonus_value = models.PositiveSmallIntegerField(default=0)
    bonus_sponsor = models.PositiveSmallIntegerField(default=0)
    score_note = models.TextField(blank=True, max_length=2000)
    scored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    agent = models.OneToOneField(Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="intake")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCORE_FIELDS = ("score_scope", "score_volume", "score_failure", "score_data", "score_metric")
    BONUS_FIELDS = ("bonus_disliked", "bonus_value", "bonus_sponsor")

    class Meta:
        ordering = ["-created_at"]
        permissions = [("score_intake", "Can score intakes (the governance board)")]
        constraints = [
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__isnull": True})
                    | Q(**{f"{name}__gte": SCORE_MIN, f"{name}__lte": SCORE_MAX}),
                    name=f"compliance_intake_{name}_1_5",
                )
                for name in ("score_scope", "score_volume", "score_failure", "score_data", "score_metric")
            ),
            *(
                models.CheckConstraint(condition=Q(**{f"{name}__lte": BONUS_MAX}), name=f"compliance_intake_{name}_0_3")
                for name in ("bonus_disliked", "bonus_value", "bonus_sponsor")
            ),
            # Scored (or converted) means every dimension has its score and a scorer.
            models.CheckConstraint(
                condition=Q(status__in=[IntakeStatus.SUBMITTED, IntakeStatus.WITHDRAWN])
                | Q(
                    score_scope__isnull=False,
                    score_volume__isnull=False,
                    score_failure__isnull=False,
                    score_data__isnull=False,
                    score_metric__isnull=False,
                    scored_at__isnull=False,
                ),
                name="compliance_intake_scored_complete",
            ),
            # Converted exactly when it names its agent, and only at or above the go threshold (20).
            models.CheckConstraint(
                condition=(Q(status=IntakeStatus.CONVERTED) & Q(agent__isnull=False))
                | (~Q(status=IntakeStatus.CONVERTED) & Q(agent__isnull=True)),
                name="compliance_intake_converted_has_agent",
            ),
            models.CheckConstraint(
                condition=~Q(status=IntakeStatus.CONVERTED)
                | Q(
                    score_scope__gte=GO_THRESHOLD
                    - F("score_volume")
                    - F("score_failure")
                    - F("score_data")
                    - F("score_metric")
                ),
                name="compliance_intake_converted_at_threshold",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("compliance:intake_detail", kwargs={"pk": self.pk})

    @property
    def is_scored(self) -> bool:
        return all(getattr(self, name) is not None for name in self.SCORE_FIELDS)

    @property
    def core_total(self) -> int | None:
        """The five dimensions' sum (5-25), or None before the board scores."""
        if not self.is_scored:
            return None
        return sum(getattr(self, name) for name in self.SCORE_FIELDS)

    @property
    def bonus_total(self) -> int:
        return sum(getattr(self, name) for name in self.BONUS_FIELDS)


# --- documentation gate ---------------------------------------------------------------------------


def document_upload_to(instance: AgentDocument, filename: str) -> str:
    # One folder per agent and kind; the version keeps earlier files (a document is never replaced).
    return f"documents/{instance.agent_id}/{instance.kind}/v{instance.version}-{filename}"


class AgentDocument(models.Model):
    """One version of one of an agent's governance documents: a file kept in MEDIA_ROOT or a link.

    Versions are append-only: a new upload is the next version, and the latest version of each
    kind is the one the documentation gate reads (current while its review date has not passed)."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=30, choices=DocumentKind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to=document_upload_to, max_length=300, blank=True)
    url = models.URLField("link", max_length=500, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_documents")
    review_due = models.DateField(help_text="After this date the document no longer counts for the gate.")
    note = models.TextField(blank=True, max_length=2000)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "kind", "version"], name="compliance_agentdocument_unique_version"
            ),
            # A file or a link, never both, never neither.
            models.CheckConstraint(
                condition=(Q(file="") & ~Q(url="")) | (~Q(file="") & Q(url="")),
                name="compliance_agentdocument_file_xor_link",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="compliance_agentdocument_version_1"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} {self.get_kind_display()} v{self.version}"


# --- impact assessments ---------------------------------------------------------------------------


class ImpactAssessment(models.Model):
    """One version of an agent's FRIA or DPIA: the structured answers, and its approval.

    A version is written once and then only decided: it becomes approved (or rejected) only by
    applying its ``impact_assessment`` change request under the two-person rule
    (``compliance.assessments``). The approved version with the highest number is the agent's
    current one while ``valid_until`` has not passed."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="impact_assessments")
    kind = models.CharField(max_length=10, choices=AssessmentKind.choices)
    version = models.PositiveIntegerField()
    answers = models.JSONField(default=dict)
    answers_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=AssessmentStatus.choices, default=AssessmentStatus.PENDING)
    valid_until = models.DateField(help_text="Reassess by this date (or sooner when the agent's use changes).")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    request = models.OneToOneField(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="impact_assessment"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "kind", "version"], name="compliance_assessment_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="compliance_assessment_version_1"),
            # Approved means a request approved it, at a recorded time.
            models.CheckConstraint(
                condition=~Q(status=AssessmentStatus.APPROVED) | Q(request__isnull=False, approved_at__isnull=False),
                name="compliance_assessment_approved_by_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} {self.kind.upper()} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("compliance:assessment_detail", kwargs={"pk": self.pk})


auditlog.register(Intake, exclude_fields=["updated_at"])
auditlog.register(AgentDocument)
auditlog.register(ImpactAssessment, exclude_fields=["answers"])


# --- framework evidence, serious incidents, drills ---------------------------------------


class SeriousKind(models.TextChoices):
    """Kinds of serious incident (EU AI Act Art. 3(49), Art. 73(2)-(4)); each has its own clock."""

    WIDESPREAD = "widespread", "Widespread infringement or critical infrastructure disruption (Art. 73(3))"
    DEATH = "death", "Death of a person (Art. 73(4))"
    OTHER = "other", "Other serious incident: health, fundamental rights, property or environment (Art. 73(2))"


class ReportStage(models.TextChoices):
    INITIAL = "initial", "Initial report"
    COMPLETE = "complete", "Complete report"


class DrillMode(models.TextChoices):
    LIVE = "live", "Live (non-production agent)"
    DRY_RUN = "dry_run", "Dry run"


class DrillStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class SeriousIncident(models.Model):
    """An incident classified as a serious incident under EU AI Act Art. 73, with its kind.

    The report is due ``days`` after ``aware_at`` (Art. 73(2)-(4), :mod:`compliance.serious`);
    ``due_at`` is stored so the home page and the escalation task filter on it."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.PROTECT, related_name="serious")
    kind = models.CharField(max_length=24, choices=SeriousKind.choices)
    aware_at = models.DateTimeField(help_text="When the provider or deployer became aware of the serious incident.")
    due_at = models.DateTimeField()
    rationale = models.TextField(max_length=4000)
    classified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    classified_at = models.DateTimeField(default=timezone.now)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SeriousKind.values), name="compliance_serious_kind_valid"),
            models.CheckConstraint(condition=Q(due_at__gt=F("aware_at")), name="compliance_serious_due_after_aware"),
            models.CheckConstraint(condition=~Q(rationale=""), name="compliance_serious_rationale_required"),
        ]
        indexes = [models.Index(fields=["due_at"])]

    def __str__(self) -> str:
        return f"Serious incident ({self.get_kind_display()}) on incident {self.incident_id}"


class SeriousReport(models.Model):
    """A report to the market surveillance authority (Art. 73), initial or complete, as sent:
    its content frozen with its SHA-256 (also on the audit chain)."""

    serious = models.ForeignKey(SeriousIncident, on_delete=models.PROTECT, related_name="reports")
    stage = models.CharField(max_length=10, choices=ReportStage.choices)
    content = models.JSONField()
    content_sha256 = models.CharField(max_length=64)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["serious", "stage"], name="compliance_seriousreport_one_per_stage"),
            models.CheckConstraint(condition=Q(stage__in=ReportStage.values), name="compliance_seriousreport_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} of serious incident {self.serious_id}"


class EvidenceFreeze(models.Model):
    """The evidence of an agent in a serious incident, frozen before Quorum changed the agent on
    its own (Art. 73(6)): version, controls, last runs and traces, and their SHA-256, which is
    also on the audit chain (entry ``audit_seq``)."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="evidence_freezes")
    serious = models.ForeignKey(SeriousIncident, on_delete=models.PROTECT, related_name="freezes")
    change_kind = models.CharField(max_length=40)
    reason = models.TextField(max_length=2000)
    snapshot = models.JSONField()
    snapshot_sha256 = models.CharField(max_length=64)
    audit_seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evidence of agent {self.agent_id} frozen before {self.change_kind}"


class KillSwitchDrill(models.Model):
    """A kill-switch drill: pulled at ``pulled_at``; the first controls poll after it that
    showed side effects off (``controls_off_seen_at``) and the agent's last side-effecting action
    (``last_side_effect_at``) are measured. Evidence for Art. 14 and NIST MANAGE 2.4."""

    agent = models.ForeignKey("registry.Agent", on_delete=models.PROTECT, related_name="drills")
    mode = models.CharField(max_length=8, choices=DrillMode.choices)
    status = models.CharField(max_length=10, choices=DrillStatus.choices, default=DrillStatus.RUNNING)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    pulled_at = models.DateTimeField(default=timezone.now)
    controls_off_seen_at = models.DateTimeField(null=True, blank=True)
    last_side_effect_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ms_to_controls_off = models.PositiveBigIntegerField(null=True, blank=True)
    ms_to_last_side_effect = models.PositiveBigIntegerField(null=True, blank=True)
    restore_request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-pulled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(status="running"), name="compliance_drill_one_running_per_agent"
            ),
            models.CheckConstraint(condition=Q(mode__in=DrillMode.values), name="compliance_drill_mode_valid"),
            models.CheckConstraint(condition=Q(status__in=DrillStatus.values), name="compliance_drill_status_valid"),
            models.CheckConstraint(
                condition=Q(status="running") | Q(finished_at__isnull=False), name="compliance_drill_finished_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} drill on agent {self.agent_id}"


auditlog.register(SeriousIncident)
auditlog.register(KillSwitchDrill)
