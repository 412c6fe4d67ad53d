"""Telemetry rules: credentials for agents and people, run ingest, governance checks on ingest,
and keeping the rollups of runs current."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from registry.budgets import SPEND_RUNS_UPSERT_CTE, period_keys, spend_runs_alert, spend_runs_totals_by_period
from registry.choices import VersionState
from registry.db_prepared import prepared_row
from registry.models import Agent, AgentVersion

from . import rollups
from .choices import ViolationKind
from .models import ComplianceViolation, RollupState, Run
from .redaction import deny_list, redact
from .run_partitions import run_partition_drop_one
from .schemas import RunIn, run_validate

# A version counts as approved once it passed approval, even after it was superseded.
APPROVED_STATES = frozenset(
    {VersionState.APPROVED, VersionState.DEPLOYED, VersionState.SUPERSEDED, VersionState.ROLLED_BACK}
)


# --- ingest ------------------------------------------------------------------------------------


class GovernanceChangedDuringIngest(OperationalError):
    """The agent's versions or grants changed between every attempt of one ingest, so no attempt
    could store its runs against the governance it checked them with. Like PostgreSQL's
    serialization failure (also an ``OperationalError``), nothing was stored and the same request
    will succeed when retried: the API answers 503 with ``Retry-After`` (``config.error_views``,
    and the OTLP receiver's own handling), never 500."""


@dataclass
class ItemResult:
    index: int
    status: str  # created | duplicate | invalid
    run_id: str | None = None
    errors: list[dict] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"index": self.index, "result": self.status, "run_id": self.run_id}
        if self.errors:
            out["errors"] = self.errors
        if self.violations:
            out["violations"] = self.violations
        return out


@dataclass
class _VersionInfo:
    id: int
    label: str
    approved: bool
    model_name: str
    model_provider: str
    digest: str
    tools: set[str]


@dataclass
class _Finding:
    version_key: str
    kind: str
    detail: str
    version_id: int | None


class _Governance:
    """The agent's registered versions and their granted tools, as the ingest statement last read
    them (``_GOVERNANCE_CTE``), with the fingerprint of that read."""

    def __init__(self, fingerprint: str, document: str):
        self.fingerprint = fingerprint
        self.by_label: dict[str, _VersionInfo] = {}
        self.by_digest: dict[str, _VersionInfo] = {}
        # A row per (version, granted tool), or one row with tool None; newest version first, so
        # by_digest keeps the newest on a shared digest.
        for vid, label, state, has_approved_at, model_name, provider, digest, tool in json.loads(document):
            info = self.by_label.get(label)
            if info is None:
                info = _VersionInfo(
                    id=vid,
                    label=label,
                    approved=state in APPROVED_STATES or has_approved_at,
                    model_name=model_name,
                    model_provider=provider,
                    digest=digest,
                    tools=set(),
                )
                self.by_label[label] = info
                self.by_digest.setdefault(digest, info)
            if tool:
                info.tools.add(tool)

    def check(self, run: RunIn) -> tuple[int | None, list[_Finding]]:
        """Rule: a run must come from an approved version (by its digest when sent, else its
        label), use that version's pinned model, and only tools granted to it."""
        findings: list[_Finding] = []
        if run.bundle_digest:
            version = self.by_digest.get(run.bundle_digest)
            if version is None or not version.approved:
                findings.append(
                    _Finding(
                        run.bundle_digest,
                        ViolationKind.UNAPPROVED_VERSION,
                        f"Bundle digest {run.bundle_digest[:12]}… (label {run.version_label}) matches no approved "
                        "version of this agent.",
                        version.id if version else None,
                    )
                )
        else:
            version = self.by_label.get(run.version_label)
            if version is None:
                findings.append(
                    _Finding(
                        run.version_label,
                        ViolationKind.UNAPPROVED_VERSION,
                        f"Version {run.version_label} is not registered for this agent.",
                        None,
                    )
                )
            elif not version.approved:
                findings.append(
                    _Finding(
                        version.label,
                        ViolationKind.UNAPPROVED_VERSION,
                        f"Version {version.label} was never approved.",
                        version.id,
                    )
                )
        if version is None:
            return None, findings
        if run.model and run.model not in (version.model_name, f"{version.model_provider}/{version.model_name}"):
            findings.append(
                _Finding(
                    version.label,
                    ViolationKind.MODEL_MISMATCH,
                    f"Model {run.model} reported; version {version.label} pins {version.model_name}.",
                    version.id,
                )
            )
        ungranted = sorted(set(run.tools_used) - version.tools)
        if ungranted:
            findings.append(
                _Finding(
                    version.label,
                    ViolationKind.UNGRANTED_TOOL,
                    f"Tool(s) {', '.join(ungranted)[:300]} used; not granted to version {version.label}.",
                    version.id,
                )
            )
        return version.id, findings


def runs_ingest(*, agent: Agent, items: list, received_at: datetime | None = None) -> list[ItemResult]:
    """Store run summaries reported by ``agent``; answer per item.

    Rules: each item is validated on its own (an invalid one never blocks the others); a run
    naming another agent is refused; a run id already stored for this agent with the same start
    time (a replay; the key includes ``started_at`` because runs are partitioned by it,
    ``telemetry/run_partitions.py``) — or repeated earlier in the same batch — is a ``duplicate``
    and stores nothing (``INSERT … ON CONFLICT DO NOTHING``, so two replays racing on two
    connections still make one row); metadata is
    redacted before storage; governance findings on the new runs become compliance
    violations, deduplicated per agent, version key, kind and hour. The run is always kept. The
    cost of the runs stored counts toward the agent's day and month (``registry.budgets``) in the
    same statement that stores them."""
    received_at = received_at or timezone.now()
    results: list[ItemResult] = []
    accepted: list[tuple[ItemResult, RunIn]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        run, errors = run_validate(item, now=received_at)
        if run is None:
            results.append(ItemResult(index, "invalid", _run_id_of(item), errors))
            continue
        if run.agent and run.agent != agent.slug:
            results.append(
                ItemResult(
                    index,
                    "invalid",
                    run.run_id,
                    [
                        {
                            "code": "forbidden",
                            "field": "agent",
                            "message": f"This key may only report runs of its own agent ({agent.slug}).",
                        }
                    ],
                )
            )
            continue
        result = ItemResult(index, "duplicate" if run.run_id in seen else "created", run.run_id)
        results.append(result)
        if result.status == "created":
            seen.add(run.run_id)
            accepted.append((result, run))
    if not accepted:
        return results

    _runs_store(agent, accepted, received_at)
    return results


# Per web process: the last governance read of each agent (its versions and tool grants). Never
# trusted on its own: the ingest statement recomputes the fingerprint of what it would read now
# and stores nothing unless it equals the one the findings were computed from (see _runs_store).
# It saves the read's round trip on every request but an agent's first and the one after a change.
_GOVERNANCE: dict[int, _Governance] = {}
_GOVERNANCE_MAX_AGENTS = 10_000
_GOVERNANCE_ATTEMPTS = 3


def _runs_store(agent: Agent, accepted: list[tuple[ItemResult, RunIn]], received_at: datetime) -> None:
    """Store the accepted runs and their findings: runs, spend and (when any) violations in one
    transaction, and with no finding one statement (``_INGEST_SQL``, atomic on its own: no
    BEGIN/COMMIT round trips). The findings come from the cached governance read; the statement
    stores nothing when the governance it reads has another fingerprint (an agent's first request
    in this process, or a version or grant changed meanwhile), answers what it read instead, and
    the findings are recomputed from that and the statement sent again. So the findings always
    match the versions and grants the runs were stored against, in the statement's own snapshot."""
    governance = _GOVERNANCE.get(agent.pk)
    denied = deny_list()
    spend_now = timezone.now()
    for _attempt in range(_GOVERNANCE_ATTEMPTS):
        findings_by_run: dict[str, list[_Finding]] = {}
        rows = []
        if governance is not None:
            for _result, run in accepted:
                version_id, findings = governance.check(run)
                findings_by_run[run.run_id] = findings
                rows.append(_row(run, version_id, denied))
        # Violations must be written together with their runs; a lone statement is atomic already.
        needs_transaction = any(findings_by_run.values())
        with transaction.atomic() if needs_transaction else _null():
            matched, read, created, spend_rows = _ingest_statement(
                agent.pk, governance.fingerprint if governance else None, rows, received_at, spend_now
            )
            if matched:
                _violations_record(agent.pk, accepted, findings_by_run, created, received_at)
                break
        governance = _Governance(*read)
        if len(_GOVERNANCE) >= _GOVERNANCE_MAX_AGENTS:
            _GOVERNANCE.clear()
        _GOVERNANCE[agent.pk] = governance
    else:
        raise GovernanceChangedDuringIngest(
            f"Agent {agent.pk}'s versions changed during {_GOVERNANCE_ATTEMPTS} ingest attempts."
        )
    for result, run in accepted:
        if run.run_id not in created:
            result.status = "duplicate"
    # Budgets that act: the new runs' cost counts toward the agent's day and month (added by the
    # statement that stored them, to the keys _row computed); a month crossing the soft cap alerts,
    # after the commit.
    totals = spend_runs_totals_by_period(
        (row["spend_day"], row["spend_month"], run.cost_usd)
        for (result, run), row in zip(accepted, rows, strict=True)
        if result.status == "created"
    )
    spend_runs_alert(agent, totals, spend_rows)


def _violations_record(
    agent_id: int,
    accepted: list[tuple[ItemResult, RunIn]],
    findings_by_run: dict[str, list[_Finding]],
    created: set[str],
    now: datetime,
) -> None:
    """The findings of the runs just created, as violation rows counted per version key, kind and hour."""
    violation_rows: dict[tuple, dict] = {}
    for result, run in accepted:
        if run.run_id not in created:
            continue
        hour = run.started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        for finding in findings_by_run[run.run_id]:
            result.violations.append(finding.kind)
            key = (finding.version_key, finding.kind, hour)
            if key in violation_rows:
                violation_rows[key]["run_count"] += 1
            else:
                violation_rows[key] = {"finding": finding, "hour": hour, "run_id": run.run_id, "run_count": 1}
    if violation_rows:
        _upsert_violations(agent_id, violation_rows, now)


def _run_id_of(item) -> str | None:
    value = item.get("run_id") if isinstance(item, dict) else None
    return value[:128] if isinstance(value, str) else None


def _row(run: RunIn, version_id: int | None, denied) -> dict:
    """The run as the ingest statement's JSON record: its columns, and the day and month its cost counts toward.
    Times and decimals are turned into their JSON text here: the encoder's ``default`` hook, called
    four times per run, made encoding a batch of 1,000 runs about twice as slow."""
    latency = run.latency_ms
    if latency < 0:
        latency = min(int((run.ended_at - run.started_at).total_seconds() * 1000), 86_400_000)
    # Only a run with a cost adds to the spend (the statement skips the others).
    spend_day, spend_month = period_keys(run.started_at) if run.cost_usd else (None, None)
    return {
        "version_id": version_id,
        "run_id": run.run_id,
        "version_label": run.version_label,
        "bundle_digest": run.bundle_digest,
        "model": run.model,
        "channel": run.channel,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat(),
        "latency_ms": latency,
        "status": run.status,
        "outcome": run.outcome,
        "reason": run.reason or "",
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost_usd": str(run.cost_usd),
        "tool_calls": run.tool_calls,
        "tools_used": run.tools_used,
        "policy_blocks": run.policy_blocks,
        "human_minutes": str(run.human_minutes),
        "trace_id": run.trace_id,
        "metadata": redact(run.metadata, denied) if run.metadata else {},
        "shadow": run.shadow,
        "spend_day": spend_day,
        "spend_month": spend_month,
    }


_RUN_COLUMNS = (
    "version_id", "run_id", "version_label", "bundle_digest", "model", "channel", "started_at", "ended_at",
    "latency_ms", "status", "outcome", "reason", "input_tokens", "output_tokens", "cost_usd", "tool_calls",
    "tools_used", "policy_blocks", "human_minutes", "trace_id", "metadata", "shadow",
)  # fmt: skip
_PG_TYPES = (
    "bigint", "text", "text", "text", "text", "text", "timestamptz", "timestamptz", "integer", "text", "text",
    "text", "integer", "integer", "numeric", "integer", "jsonb", "integer", "numeric", "text", "jsonb", "boolean",
)  # fmt: skip


# The governance read: one JSON document, a row per (version, granted tool) or one row with tool
# null, newest version first; its md5 is the fingerprint _runs_store compares. Hand-written SQL
# because this runs on every ingest request (ORM query building cost about as much as the round
# trip, issue 22); tests/telemetry/test_governance.py covers the rules.
_GOVERNANCE_CTE = """
    SELECT coalesce(json_agg(json_build_array(v.id, v.label, v.state, v.approved_at IS NOT NULL, v.model_name,
                                              v.model_provider, v.bundle_digest, t.name)
                             ORDER BY v.created_at DESC, v.id DESC, t.name), '[]')::text AS document
    FROM registry_agentversion v
    LEFT JOIN registry_toolgrant g ON g.version_id = v.id
    LEFT JOIN registry_tool t ON t.id = g.tool_id
    WHERE v.agent_id = %(agent)s
"""
_RUN_TABLE = Run._meta.db_table
_RECORD = ", ".join(f"{c} {t}" for c, t in zip(_RUN_COLUMNS, _PG_TYPES, strict=True))
# One statement whatever the batch size: the runs travel as one JSON document that PostgreSQL
# unpacks in C (json_to_recordset; no per-value quoting in Python), each with the day and month
# its cost counts toward. Only when the governance read matches the fingerprint the findings were
# computed from are the runs inserted (a replay, same agent, run id and start, is skipped by
# ON CONFLICT) and the spend of those inserted added (registry.budgets' upsert).
_INGEST_SQL = f"""
WITH gov AS ({_GOVERNANCE_CTE}),
checked AS (SELECT document, md5(document) AS fingerprint,
                   coalesce(md5(document) = %(fingerprint)s, false) AS matched FROM gov),
r AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%(runs)s::json) AS t({_RECORD}, spend_day text, spend_month text)
),
ins AS (
    INSERT INTO {_RUN_TABLE} (agent_id, {", ".join(_RUN_COLUMNS)}, received_at)
    SELECT %(agent)s, {", ".join("r." + c for c in _RUN_COLUMNS)}, %(received_at)s
    FROM r WHERE (SELECT matched FROM checked)
    ON CONFLICT (agent_id, run_id, started_at) DO NOTHING
    RETURNING run_id, cost_usd
),
spend_in AS (
    SELECT p.period, p.key, sum(ins.cost_usd) AS cost
    FROM ins JOIN r USING (run_id)
    CROSS JOIN LATERAL (VALUES ('month', r.spend_month), ('day', r.spend_day)) AS p(period, key)
    WHERE ins.cost_usd > 0
    GROUP BY p.period, p.key
),
spend AS ({SPEND_RUNS_UPSERT_CTE})
SELECT c.matched, c.fingerprint, CASE WHEN c.matched THEN NULL ELSE c.document END,
       ARRAY(SELECT run_id FROM ins),
       (SELECT json_agg(json_build_array(period, key, cost_usd::text)) FROM spend)
FROM checked c
"""  # noqa: S608 - table and column names are ours; every value is a parameter


def _json_default(value):
    # Only what metadata can hold beyond JSON's own types (numbers with a fraction arrive as Decimal).
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # Decimal: exact digits, never a float


def _ingest_statement(
    agent_id: int, fingerprint: str | None, rows: list[dict], received_at: datetime, spend_now: datetime
) -> tuple[bool, tuple[str, str], set[str], list[tuple[str, str, Decimal]]]:
    """Run ``_INGEST_SQL``: whether the governance matched ``fingerprint`` (else nothing was
    written), the governance read (fingerprint, document; the document only when it did not
    match), the run ids inserted, and the spend rows (period, key, cost after)."""
    # Prepared (registry/db_prepared.py): one text whatever the batch, planned once per connection.
    matched, new_fingerprint, document, created, spend = prepared_row(
        _INGEST_SQL,
        {
            "agent": agent_id,
            "fingerprint": fingerprint,
            "runs": json.dumps(rows, default=_json_default),
            "received_at": received_at,
            "spend_now": spend_now,
        },
    )
    if isinstance(spend, str):  # a driver that does not decode json columns
        spend = json.loads(spend)
    return (
        matched,
        (new_fingerprint, document),
        set(created),
        [(period, key, Decimal(cost)) for period, key, cost in spend or ()],
    )


def _upsert_violations(agent_id: int, violation_rows: dict[tuple, dict], now: datetime) -> None:
    """One row per (agent, version key, kind, hour); a later run in the same hour adds to its
    count. Rows are written in key order so two concurrent batches lock them in the same order."""
    table = ComplianceViolation._meta.db_table
    ops = connection.ops
    params: list = []
    values = []
    for key in sorted(violation_rows, key=lambda k: (k[0], k[1], k[2])):
        row = violation_rows[key]
        finding: _Finding = row["finding"]
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        params.extend(
            [
                agent_id,
                finding.version_id,
                finding.version_key,
                finding.kind,
                ops.adapt_datetimefield_value(row["hour"]),
                finding.detail[:500],
                row["run_id"],
                row["run_count"],
                ops.adapt_datetimefield_value(now),
                ops.adapt_datetimefield_value(now),
            ]
        )
    sql = (
        f"INSERT INTO {table} (agent_id, version_id, version_key, kind, hour, detail, first_run_id, run_count, "  # noqa: S608 - names from model meta; values are bound parameters
        f"first_seen_at, last_seen_at) VALUES {', '.join(values)} "
        "ON CONFLICT (agent_id, version_key, kind, hour) DO UPDATE SET "
        f"run_count = {table}.run_count + excluded.run_count, last_seen_at = excluded.last_seen_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _null():
    from contextlib import nullcontext

    return nullcontext()


# --- rollups ---------------------------------------------------------------------------------

# Any 64-bit key of ours for pg_advisory_xact_lock(key, agent_id): one agent's catch-up at a time.
ROLLUP_AGENT_LOCK = 0x524F4C4C  # "ROLL"


def rollup_refresh(*, now: datetime | None = None) -> int:
    """Bring the five-minute, hourly and daily rollups up to date with every run received until
    ``now − REPORTS_ROLLUP_SETTLE_SECONDS``, and drop five-minute rows past their retention.

    The buckets to recompute are those holding a run received after the watermark — by the
    run's ``started_at``, so a run that arrives days late lands in its own hour and day.
    Each such bucket is recomputed whole from the raw runs, and the watermark moves, in one
    transaction under a lock on the state row: two workers never interleave, a crash leaves
    nothing half-done, and running it again changes nothing. The settle delay covers ingest
    transactions that were stamped before, but committed after, the pass looked.
    Returns the number of hourly buckets recomputed."""
    now = now or timezone.now()
    upto = now - timedelta(seconds=getattr(settings, "REPORTS_ROLLUP_SETTLE_SECONDS", 120))
    RollupState.objects.get_or_create(pk=1)
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(pk=1)
        if state.watermark is not None and upto <= state.watermark:
            return 0
        keys = rollups.affected_hours(received_after=state.watermark, received_upto=upto)
        count = rollups.recompute(keys)
        rollups.prune_fine(now=now)
        state.watermark = upto
        state.last_run_at = now
        state.last_buckets = count
        state.save()
    return count


def rollup_rebuild(*, start: datetime, end: datetime, watermark: datetime | None = None) -> int:
    """Recompute every bucket with runs started in [start, end), whatever the watermark
    says (repair after a restore, or seeding a benchmark). Idempotent. With ``watermark``
    (a seeder that just loaded every run), the watermark moves forward to it: the pass
    takes over from there."""
    buckets = rollups.rebuild(start=start, end=end)
    if watermark is not None:
        state, _ = RollupState.objects.get_or_create(pk=1)
        if state.watermark is None or state.watermark < watermark:
            RollupState.objects.filter(pk=1).update(watermark=watermark, last_run_at=watermark, last_buckets=buckets)
    return buckets


def rollup_catch_up_agent(*, agent_id: int) -> datetime:
    """Make one agent's five-minute rollups complete before a moment, and return it, for readers
    that need every run received so far (drift checks), between two passes of ``rollup_refresh``.

    The moment is the five-minute floor of the watermark: runs received after it that started
    earlier (late runs) have their five-minute buckets recomputed here, whole, from raw runs
    (idempotent; rare, so usually this is one read). Runs started after it are the reader's to
    take from raw runs (minutes of one agent). Before the first pass (no watermark) every
    bucket of the agent is recomputed and the moment is now's floor. The watermark, hourly and
    daily rows stay the pass's."""
    state = RollupState.objects.filter(pk=1).first()
    watermark = state.watermark if state else None
    complete_before = rollups.five_minute_floor(watermark or timezone.now())
    buckets = rollups.recent_fine_buckets(
        agent_id=agent_id, received_after=watermark, started_before=complete_before if watermark else None
    )
    if not buckets:
        return complete_before
    with transaction.atomic():
        # Race: the pass (or another check of this agent) rewriting the same five-minute rows at
        # the same time would delete and insert them twice. The pass holds the state row FOR
        # UPDATE, so a shared lock waits for it; checks of one agent wait on the advisory lock.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {RollupState._meta.db_table} WHERE id = 1 FOR SHARE")  # noqa: S608
            cursor.execute("SELECT pg_advisory_xact_lock(%s::int, %s::int)", [ROLLUP_AGENT_LOCK, agent_id])
        rollups.recompute_fine(agent_id=agent_id, buckets=buckets)
    return complete_before


# --- retention ------------------------------------------------------------------------------------


def runs_purge_before(*, before: datetime, exclude_agent_ids: Collection[int] = (), batch: int = 5000) -> int:
    """Delete one batch of runs started before ``before``, except the runs of the agents in
    ``exclude_agent_ids`` (under legal hold); returns how many went (0: nothing is due). One
    short transaction per batch, by primary key, so ingest never waits on a long lock; the
    caller repeats. Rollups keep the hours and days they summed.

    Whole months go first: a monthly partition that ends by ``before`` and holds no held agent's
    run is dropped (instant; its run count is returned); only then are the remaining runs — the
    month straddling ``before``, a held month's other agents, the default partition — deleted in
    batches (``telemetry/run_partitions.py``)."""
    dropped = run_partition_drop_one(before=before, exclude_agent_ids=exclude_agent_ids)
    if dropped:
        return dropped
    due = Run.objects.filter(started_at__lt=before)
    if exclude_agent_ids:
        due = due.exclude(agent_id__in=list(exclude_agent_ids))
    ids = list(due.order_by("pk").values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    with transaction.atomic():
        deleted, _ = Run.objects.filter(pk__in=ids).delete()
    return deleted


def run_metadata_purge_before(*, before: datetime, exclude_agent_ids: Collection[int] = (), batch: int = 5000) -> int:
    """Empty the free-form ``metadata`` of one batch of runs started before ``before`` (the run's
    figures stay for the reports), except for agents under legal hold; 0 when nothing is due."""
    due = Run.objects.filter(started_at__lt=before).exclude(metadata={})
    if exclude_agent_ids:
        due = due.exclude(agent_id__in=list(exclude_agent_ids))
    ids = list(due.order_by("pk").values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    return Run.objects.filter(pk__in=ids).update(metadata={})


def rollup_catch_up_fleet(*, agent_ids: list[int]) -> datetime:
    """``rollup_catch_up_agent`` for many agents at once (the drift cycle of a fleet): one query
    finds, for all of them, the five-minute buckets that runs received after the watermark (late
    runs) touched; only agents with such buckets are recomputed, each as ``rollup_catch_up_agent``
    does it (late runs are rare, so a cycle is usually two reads whatever the fleet's size).
    Returns the moment before which every listed agent's five-minute rows are complete."""
    state = RollupState.objects.filter(pk=1).first()
    watermark = state.watermark if state else None
    complete_before = rollups.five_minute_floor(watermark or timezone.now())
    late = rollups.recent_fine_buckets_fleet(
        agent_ids=agent_ids, received_after=watermark, started_before=complete_before if watermark else None
    )
    for agent_id, buckets in sorted(late.items()):
        with transaction.atomic():
            # Race: as in rollup_catch_up_agent — the pass holds the state row FOR UPDATE (a
            # shared lock waits for it); checks of one agent wait on its advisory lock.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {RollupState._meta.db_table} WHERE id = 1 FOR SHARE")  # noqa: S608
                cursor.execute("SELECT pg_advisory_xact_lock(%s::int, %s::int)", [ROLLUP_AGENT_LOCK, agent_id])
            rollups.recompute_fine(agent_id=agent_id, buckets=buckets)
    return complete_before


# --- findings that are not runs: the MCP gateway's tool definitions -------------------------------


@transaction.atomic
def violation_record_once(
    *, agent: Agent, version: AgentVersion | None, kind: str, key: str, detail: str, source: str
) -> tuple[ComplianceViolation, bool]:
    """Record a finding the MCP gateway reported (an unpinned or changed tool definition) once per
    distinct ``key`` (the definition hash), not once per report: a gateway that reconnects, or
    ten gateways of the same agent, add to the first row's count. Returns ``(row, created)``.

    Race: two gateways reporting the same new definition at once; the agent's row is locked so
    the second one finds the first one's row."""
    if kind not in ViolationKind.values:
        raise ValueError(f"Unknown violation kind {kind!r}.")
    Agent.objects.select_for_update(no_key=True).only("pk").get(pk=agent.pk)
    now = timezone.now()
    existing = ComplianceViolation.objects.filter(agent=agent, kind=kind, version_key=key).order_by("hour").first()
    if existing is not None:
        ComplianceViolation.objects.filter(pk=existing.pk).update(run_count=F("run_count") + 1, last_seen_at=now)
        existing.refresh_from_db()
        return existing, False
    row = ComplianceViolation.objects.create(
        agent=agent,
        version=version,
        version_key=key,
        kind=kind,
        hour=now.replace(minute=0, second=0, microsecond=0),
        detail=detail[:500],
        first_run_id=source[:128],
        first_seen_at=now,
        last_seen_at=now,
    )
    return row, True
