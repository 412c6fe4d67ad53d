"""Framework mapping with live evidence: named evidence queries and each control's status.

The catalogue (``compliance/catalogue/controls-v1.json``) is data; it names evidence queries,
and this module holds them, keyed by name. Each query reads Quorum's records for one agent (or
the portfolio, ``agent=None``) and returns the records that evidence the control, with links,
or an empty list and the reason nothing was found. A control is *evidenced* when every query it
names found records, *partial* when some did, *missing* when none did (or a query it names does
not exist), and *outside Quorum* when the catalogue says Quorum holds no record of that kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from actions.models import ActionPolicyVersion
from approvals.models import ApprovalRequest, Decision
from evals.models import DriftPolicy, EvalRun, GoldenSet
from incidents.models import Incident, Postmortem
from registry.canonical import canonical_json
from registry.models import Agent, AgentVersion, Review, ToolGrant
from telemetry.models import ComplianceViolation, Run
from trail.choices import RecordFamily
from trail.models import ChainVerification, RetentionRule

from .catalogue import Catalogue, Control, catalogue_load
from .choices import AssessmentKind, AssessmentStatus
from .models import AgentDocument, ImpactAssessment, KillSwitchDrill, SeriousIncident

SHOWN = 10  # records listed per query; the count says how many there are
CHAIN_CHECK_MAX_AGE = timedelta(days=7)
LOG_RETENTION_MIN_DAYS = 183  # EU AI Act Art. 19(1) and 26(6): at least six months
MONITORING_WINDOW = timedelta(days=30)
DRILL_MAX_AGE = timedelta(days=365)


@dataclass(frozen=True)
class EvidenceRecord:
    """One evidence record. ``perm`` is the permission the linked page demands (the page answers
    403 without it), so the page renders a link only for viewers who hold it and names ``who``
    can open it for the others."""

    label: str
    url: str = ""
    at: datetime | None = None
    perm: str = ""
    who: str = ""


AUDIT_PERM, AUDIT_WHO = "registry.view_auditentry", "auditors and the governance board"
INCIDENT_PERM, INCIDENT_WHO = "incidents.view_incident", "incident readers"


@dataclass(frozen=True)
class EvidenceResult:
    """The records found (at most :data:`SHOWN`) and how many there are; ``missing`` says why
    there are none."""

    records: tuple[EvidenceRecord, ...] = ()
    count: int = 0
    missing: str = ""

    @property
    def found(self) -> bool:
        return self.count > 0


EvidenceQuery = Callable[[Agent | None], EvidenceResult]
EVIDENCE_QUERIES: dict[str, EvidenceQuery] = {}


def evidence_query(name: str) -> Callable[[EvidenceQuery], EvidenceQuery]:
    """Register an evidence query under the name the catalogue uses."""

    def register(query: EvidenceQuery) -> EvidenceQuery:
        EVIDENCE_QUERIES[name] = query
        return query

    return register


def _result(qs: QuerySet, to_record: Callable, missing: str) -> EvidenceResult:
    count = qs.count()
    if not count:
        return EvidenceResult(missing=missing)
    return EvidenceResult(records=tuple(to_record(row) for row in qs[:SHOWN]), count=count)


def _mine(qs: QuerySet, agent: Agent | None, path: str = "agent") -> QuerySet:
    return qs.filter(**{path: agent}) if agent is not None else qs


def _whose(agent: Agent | None) -> str:
    return agent.name if agent else "any agent"


# --- registry: inventory, purpose, versions -------------------------------------------------


@evidence_query("agent_inventory")
def agent_inventory(agent: Agent | None) -> EvidenceResult:
    """Agents registered with an owner team, an owner, a sponsor and a risk tier."""
    qs = Agent.objects.filter(pk=agent.pk) if agent else Agent.objects.exclude(status="retired")
    complete = qs.filter(sponsor__isnull=False).select_related("owner_team", "owner", "sponsor").order_by("name")
    missing = f"{agent.name} has no sponsor recorded." if agent else "No agent with an owner and a sponsor."
    return _result(
        complete,
        lambda a: EvidenceRecord(
            f"{a.name}: tier {a.risk_tier}, {a.owner_team}, owner {a.owner}, sponsor {a.sponsor}",
            a.get_absolute_url(),
        ),
        missing,
    )


@evidence_query("agent_purpose")
def agent_purpose(agent: Agent | None) -> EvidenceResult:
    """A stated purpose and unit of work (what the agent is for, told to deployers)."""
    qs = Agent.objects.exclude(purpose="").exclude(unit_of_work="")
    qs = qs.filter(pk=agent.pk) if agent else qs.exclude(status="retired")
    return _result(
        qs.order_by("name"),
        lambda a: EvidenceRecord(f"{a.name}: {a.purpose[:120]}", a.get_absolute_url()),
        f"No purpose or unit of work recorded for {_whose(agent)}.",
    )


@evidence_query("version_changelogs")
def version_changelogs(agent: Agent | None) -> EvidenceResult:
    """Versions pinned with a bundle digest and a changelog."""
    qs = _mine(AgentVersion.objects.exclude(changelog=""), agent).select_related("agent").order_by("-created_at")
    return _result(
        qs,
        lambda v: EvidenceRecord(
            f"{v.agent.name} {v.label} ({v.bundle_digest[:12]})", v.get_absolute_url(), v.created_at
        ),
        f"No version of {_whose(agent)} has a changelog.",
    )


@evidence_query("data_governance")
def data_governance(agent: Agent | None) -> EvidenceResult:
    """The data classification and the data sources the agent may read."""
    qs = Agent.objects.exclude(data_classification="").filter(data_sources__isnull=False).distinct()
    qs = qs.filter(pk=agent.pk) if agent else qs.exclude(status="retired")
    return _result(
        qs.order_by("name"),
        lambda a: EvidenceRecord(
            f"{a.name}: {a.get_data_classification_display()}, sources: "
            + ", ".join(str(s) for s in a.data_sources.all()[:5]),
            a.get_absolute_url(),
        ),
        f"No data classification with data sources recorded for {_whose(agent)}.",
    )


@evidence_query("completed_reviews")
def completed_reviews(agent: Agent | None) -> EvidenceResult:
    """Periodic and ad-hoc oversight reviews completed, with findings."""
    qs = _mine(Review.objects.filter(status="completed"), agent).select_related("agent").order_by("-completed_at")
    return _result(
        qs,
        lambda r: EvidenceRecord(
            f"{r.agent.name}: {r.get_kind_display()} review, {r.get_outcome_display() or 'completed'}",
            reverse("registry:agent_detail", kwargs={"slug": r.agent.slug}),
            r.completed_at,
        ),
        f"No completed review of {_whose(agent)}.",
    )


# --- approvals and the action gate: human oversight -----------------------------------------


@evidence_query("approval_decisions")
def approval_decisions(agent: Agent | None) -> EvidenceResult:
    """Decisions by people on change and action requests, each with its reason."""
    qs = _mine(Decision.objects.exclude(reason=""), agent, "request__agent").select_related("request", "approver")
    return _result(
        qs.order_by("-decided_at"),
        lambda d: EvidenceRecord(
            f"{d.approver} {d.get_verdict_display().lower()} #{d.request_id} ({d.request.kind}): {d.reason[:100]}",
            d.request.get_absolute_url(),
            d.decided_at,
        ),
        f"No approval decision with a reason on {_whose(agent)}.",
    )


@evidence_query("step_up_assurance")
def step_up_assurance(agent: Agent | None) -> EvidenceResult:
    """Decisions taken in a multi-factor session (the assurance recorded with the decision)."""
    qs = _mine(Decision.objects.filter(assurance_level="aal2"), agent, "request__agent").select_related("request")
    return _result(
        qs.order_by("-decided_at"),
        lambda d: EvidenceRecord(
            f"#{d.request_id} decided by {d.approver_id and d.approver} with multi-factor ({d.auth_method or 'mfa'})",
            d.request.get_absolute_url(),
            d.decided_at,
        ),
        f"No decision on {_whose(agent)} was taken in a multi-factor session.",
    )


@evidence_query("action_policies")
def action_policies(agent: Agent | None) -> EvidenceResult:
    """Action-gate policies in force for the tools the agent may use (policy as code)."""
    qs = ActionPolicyVersion.objects.select_related("tool")
    if agent is not None:
        tools = ToolGrant.objects.filter(version__agent=agent, version__state="deployed").values("tool")
        qs = qs.filter(tool__in=tools)
    qs = qs.order_by("tool__name", "-number").distinct("tool__name")
    return _result(
        qs,
        lambda p: EvidenceRecord(f"{p.tool.name} policy v{p.number}", p.get_absolute_url(), p.created_at),
        f"No action policy covers a tool {_whose(agent)} may use.",
    )


@evidence_query("version_approvals")
def version_approvals(agent: Agent | None) -> EvidenceResult:
    """Go-live and new-version requests applied under the two-person rule."""
    qs = _mine(ApprovalRequest.objects.filter(kind__in=["go_live", "new_version"], status="applied"), agent)
    return _result(
        qs.select_related("agent").order_by("-created_at"),
        lambda r: EvidenceRecord(f"#{r.pk} {r.kind} on {r.agent}", r.get_absolute_url(), r.created_at),
        f"No go-live or new version of {_whose(agent)} was applied through approvals.",
    )


# --- kill switch and drills ----------------------------------------------------------------


@evidence_query("kill_switch_drills")
def kill_switch_drills(agent: Agent | None) -> EvidenceResult:
    """Finished kill-switch drills in the last year in which the agent's poll saw side effects off."""
    since = timezone.now() - DRILL_MAX_AGE
    qs = _mine(
        KillSwitchDrill.objects.filter(status="finished", pulled_at__gte=since, ms_to_controls_off__isnull=False), agent
    )
    return _result(
        qs.select_related("agent"),
        lambda d: EvidenceRecord(
            f"{d.agent.name}: {d.get_mode_display().lower()} drill, controls off after {d.ms_to_controls_off} ms, "
            f"last side effect {d.ms_to_last_side_effect} ms after the pull",
            reverse("compliance:drill_detail", kwargs={"pk": d.pk}),
            d.pulled_at,
        ),
        f"No kill-switch drill of {_whose(agent)} measured in the last year.",
    )


# --- records and logs ---------------------------------------------------------------------


@evidence_query("chain_verification")
def chain_verification(agent: Agent | None) -> EvidenceResult:
    """The last verification of the tamper-evident audit chain passed within a week."""
    last = ChainVerification.objects.order_by("-checked_at").first()
    if last is None:
        return EvidenceResult(missing="The audit chain has never been verified.")
    if not last.ok:
        return EvidenceResult(missing=f"The last chain verification failed at entry {last.bad_seq}: {last.problem}")
    if last.checked_at < timezone.now() - CHAIN_CHECK_MAX_AGE:
        return EvidenceResult(missing=f"The last chain verification is older than a week ({last.checked_at:%Y-%m-%d}).")
    record = EvidenceRecord(
        f"Audit chain verified: entries {last.first_seq}-{last.head_seq} intact",
        reverse("trail:explorer"),
        last.checked_at,
        AUDIT_PERM,
        AUDIT_WHO,
    )
    return EvidenceResult(records=(record,), count=1)


@evidence_query("log_retention")
def log_retention(agent: Agent | None) -> EvidenceResult:
    """Runs and audit entries are kept at least six months (Art. 19, 26(6))."""
    rules = {
        r.family: r for r in RetentionRule.objects.filter(family__in=[RecordFamily.RUNS, RecordFamily.AUDIT_ENTRIES])
    }
    short = [
        f
        for f in (RecordFamily.RUNS, RecordFamily.AUDIT_ENTRIES)
        if f not in rules or rules[f].days < LOG_RETENTION_MIN_DAYS
    ]
    if short:
        names = ", ".join(RecordFamily(f).label.lower() for f in short)
        return EvidenceResult(missing=f"Retention under {LOG_RETENTION_MIN_DAYS} days (or unset) for: {names}.")
    records = tuple(
        EvidenceRecord(f"{r.get_family_display()} kept {r.days} days", reverse("trail:retention"), r.updated_at)
        for r in rules.values()
    )
    return EvidenceResult(records=records, count=len(records))


# --- monitoring -----------------------------------------------------------------------------


@evidence_query("run_monitoring")
def run_monitoring(agent: Agent | None) -> EvidenceResult:
    """Run summaries reported in the last 30 days (production monitoring)."""
    since = timezone.now() - MONITORING_WINDOW
    qs = _mine(Run.objects.filter(started_at__gte=since), agent).select_related("agent")
    return _result(
        qs.order_by("-started_at"),
        lambda r: EvidenceRecord(
            f"{r.agent.name} run {r.run_id}: {r.outcome}",
            reverse("telemetry:run_detail", kwargs={"slug": r.agent.slug, "run_id": r.run_id}),
            r.started_at,
        ),
        f"No run of {_whose(agent)} reported in the last 30 days.",
    )


@evidence_query("drift_monitoring")
def drift_monitoring(agent: Agent | None) -> EvidenceResult:
    """An enabled drift policy watches the agent's outcomes, errors and cost."""
    qs = _mine(DriftPolicy.objects.filter(enabled=True), agent).select_related("agent")
    return _result(
        qs.order_by("agent__name"),
        lambda p: EvidenceRecord(
            f"{p.agent.name}: drift check on, action {p.get_action_display().lower()}", p.agent.get_absolute_url()
        ),
        f"No enabled drift policy for {_whose(agent)} (drift checks cover production agents).",
    )


@evidence_query("passing_eval_runs")
def passing_eval_runs(agent: Agent | None) -> EvidenceResult:
    """Eval runs on a golden set that met their threshold."""
    qs = _mine(EvalRun.objects.filter(passed=True), agent).select_related("agent", "version")
    return _result(
        qs.order_by("-created_at"),
        lambda r: EvidenceRecord(
            f"{r.agent.name} {r.version.label}: {r.pass_rate_pct} % (threshold {r.threshold_pct} %)",
            r.get_absolute_url(),
            r.created_at,
        ),
        f"No passing eval run of {_whose(agent)}.",
    )


@evidence_query("golden_sets")
def golden_sets(agent: Agent | None) -> EvidenceResult:
    """Golden sets (test data) with a frozen version."""
    qs = _mine(GoldenSet.objects.filter(versions__frozen_at__isnull=False), agent).distinct().select_related("agent")
    return _result(
        qs.order_by("name"),
        lambda g: EvidenceRecord(f"{g.agent.name}: golden set {g.name}", g.get_absolute_url(), g.created_at),
        f"No frozen golden set for {_whose(agent)}.",
    )


@evidence_query("compliance_violations")
def compliance_violations(agent: Agent | None) -> EvidenceResult:
    """Runs outside the approved configuration are caught: the violations found, or the runs
    checked without one."""
    qs = _mine(ComplianceViolation.objects.all(), agent).select_related("agent")
    found = _result(
        qs.order_by("-pk"),
        lambda v: EvidenceRecord(f"{v.agent.name}: {v}", v.agent.get_absolute_url()),
        "",
    )
    if found.found:
        return found
    checked = _mine(Run.objects.filter(started_at__gte=timezone.now() - MONITORING_WINDOW), agent).count()
    if not checked:
        return EvidenceResult(missing=f"No run of {_whose(agent)} checked against its approved version in 30 days.")
    url = agent.get_absolute_url() if agent else reverse("registry:agent_list")
    return EvidenceResult(records=(EvidenceRecord(f"{checked} runs checked, no violation", url),), count=1)


# --- incidents --------------------------------------------------------------------------


@evidence_query("incident_response")
def incident_response(agent: Agent | None) -> EvidenceResult:
    """Incidents opened, with their timelines (what happened, who did what, when)."""
    qs = _mine(Incident.objects.all(), agent)
    return _result(
        qs.order_by("-detected_at"),
        lambda i: EvidenceRecord(
            f"{i.reference} {i.title} ({i.get_status_display().lower()})",
            i.get_absolute_url(),
            i.detected_at,
            INCIDENT_PERM,
            INCIDENT_WHO,
        ),
        f"No incident recorded for {_whose(agent)}: incident response has not been exercised.",
    )


@evidence_query("incident_postmortems")
def incident_postmortems(agent: Agent | None) -> EvidenceResult:
    """Published postmortems."""
    qs = _mine(Postmortem.objects.filter(status="published"), agent, "incident__agent").select_related("incident")
    return _result(
        qs.order_by("-published_at"),
        lambda p: EvidenceRecord(
            f"Postmortem of {p.incident.reference}",
            p.incident.get_absolute_url(),
            p.published_at,
            INCIDENT_PERM,
            INCIDENT_WHO,
        ),
        f"No published postmortem for {_whose(agent)}.",
    )


@evidence_query("serious_incident_reports")
def serious_incident_reports(agent: Agent | None) -> EvidenceResult:
    """Serious incidents (Art. 73) whose report was submitted by its deadline (none classified:
    none due)."""
    qs = _mine(SeriousIncident.objects.all(), agent, "incident__agent").select_related("incident")
    if not qs.exists():
        # Nothing was due: a statement of fact, not a gap (an overdue report is the gap).
        record = EvidenceRecord(f"No serious incident classified for {_whose(agent)}: no Art. 73 report due.")
        return EvidenceResult(records=(record,), count=1)
    on_time = qs.filter(reports__submitted_at__lte=F("due_at")).distinct()
    return _result(
        on_time.order_by("-aware_at"),
        lambda s: EvidenceRecord(
            f"{s.incident.reference}: {s.get_kind_display()} reported by {s.due_at:%Y-%m-%d %H:%M}",
            reverse("compliance:serious_detail", kwargs={"pk": s.incident_id}),
            s.aware_at,
        ),
        f"A serious incident of {_whose(agent)} has no report submitted by its deadline.",
    )


# --- documents and impact assessments (compliance's own records) ------------------------------


@evidence_query("agent_documents")
def agent_documents(agent: Agent | None) -> EvidenceResult:
    """Governance documents (agent card, runbook, diagrams, golden set link, privacy sign-off)
    within their review date."""
    qs = _mine(AgentDocument.objects.filter(review_due__gte=timezone.localdate()), agent).select_related("agent")
    return _result(
        qs.order_by("agent__name", "kind", "-version"),
        lambda d: EvidenceRecord(
            f"{d.agent.name}: {d.get_kind_display()} v{d.version} (review by {d.review_due:%Y-%m-%d})",
            reverse("compliance:agent_documents", kwargs={"slug": d.agent.slug}),
            d.created_at,
        ),
        f"No current governance document for {_whose(agent)}.",
    )


@evidence_query("fundamental_rights_assessment")
def fundamental_rights_assessment(agent: Agent | None) -> EvidenceResult:
    """An approved fundamental-rights impact assessment still within its validity (Art. 27)."""
    qs = _mine(
        ImpactAssessment.objects.filter(
            kind=AssessmentKind.FRIA, status=AssessmentStatus.APPROVED, valid_until__gte=timezone.localdate()
        ),
        agent,
    ).select_related("agent")
    return _result(
        qs.order_by("agent__name", "-version"),
        lambda a: EvidenceRecord(
            f"{a.agent.name}: FRIA v{a.version}, approved {a.approved_at:%Y-%m-%d}, "
            f"valid until {a.valid_until:%Y-%m-%d}",
            a.get_absolute_url(),
            a.approved_at,
        ),
        f"No approved, current fundamental-rights impact assessment for {_whose(agent)}.",
    )


# --- status per control -----------------------------------------------------------------


@dataclass
class ControlStatus:
    control: Control
    status: str  # evidenced | partial | missing | outside
    results: dict[str, EvidenceResult] = field(default_factory=dict)

    @property
    def missing_reasons(self) -> list[str]:
        if self.status == "outside":
            return [self.control.outside_quorum]
        return [r.missing for r in self.results.values() if not r.found]


STATUS_LABELS = {
    "evidenced": "Evidenced",
    "partial": "Partly evidenced",
    "missing": "Missing",
    "outside": "Outside Quorum",
}


def _run_query(name: str, agent: Agent | None, cache: dict[str, EvidenceResult]) -> EvidenceResult:
    if name not in cache:
        query = EVIDENCE_QUERIES.get(name)
        cache[name] = (
            query(agent)
            if query
            else EvidenceResult(missing=f"No evidence query named {name!r} exists in this Quorum.")
        )
    return cache[name]


def controls_status(
    *, agent: Agent | None, catalogue: Catalogue | None = None, framework: str = ""
) -> list[ControlStatus]:
    """Every control of the catalogue (of ``framework`` when given) with its status for ``agent``
    (``None``: the portfolio). Each query runs once however many controls name it."""
    catalogue = catalogue or catalogue_load()
    cache: dict[str, EvidenceResult] = {}
    statuses = []
    for control in catalogue.controls:
        if framework and control.framework != framework:
            continue
        if not control.evidence:
            statuses.append(ControlStatus(control, "outside"))
            continue
        results = {name: _run_query(name, agent, cache) for name in control.evidence}
        found = sum(1 for r in results.values() if r.found)
        status = "evidenced" if found == len(results) else ("partial" if found else "missing")
        statuses.append(ControlStatus(control, status, results))
    return statuses


def status_counts(statuses: list[ControlStatus]) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_LABELS, 0)
    for s in statuses:
        counts[s.status] += 1
    return counts


def mapping_json(*, agent: Agent | None) -> dict:
    """The mapping as JSON-ready data (the evidence pack carries it)."""
    catalogue = catalogue_load()
    return {
        "catalogue_version": catalogue.version,
        "scope": agent.slug if agent else "portfolio",
        "generated_at": timezone.now().isoformat(),
        "controls": [
            {
                "id": s.control.id,
                "framework": s.control.framework,
                "ref": s.control.ref,
                "title": s.control.title,
                "status": s.status,
                "missing": s.missing_reasons,
                "evidence": {
                    name: {"count": r.count, "records": [{"label": x.label, "url": x.url} for x in r.records]}
                    for name, r in s.results.items()
                },
            }
            for s in controls_status(agent=agent, catalogue=catalogue)
        ],
    }


def evidence_pack_mapping(agent: Agent | None, since, until) -> dict[str, str]:
    """The evidence pack's framework mapping (``reports.extensions.evidence_pack_files``): the
    status of every control today, with its evidence counts and links."""
    return {"compliance/framework_mapping.json": canonical_json(mapping_json(agent=agent))}
