"""Telemetry reads: an agent's runtime controls (and their ETag), violations, keys, run windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from registry.canonical import canonical_sha256
from registry.choices import VersionState
from registry.models import Agent, AgentVersion, GlobalControls
from registry.selectors import agents_visible_to

from . import rollups
from .choices import DiscoveryState, RunOutcome, RunStatus, ViolationKind
from .extensions import controls_extras
from .latency import bucket_index, empty_histogram
from .models import ComplianceViolation, Discovery, FiveMinuteRollup, RollupState, Run, Span


def _version_dict(version: AgentVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "label": version.label,
        "bundle_digest": version.bundle_digest,
        "model": version.model_name,
        "policy_version": version.policy_version,
    }


def agent_controls(*, agent_id: int) -> tuple[dict, str]:
    """What the agent must obey right now, read fresh from the database on every call (a
    kill switch pulled in the console shows on the very next request), and a strong ETag
    over the whole answer — including what other apps add through
    :data:`telemetry.extensions.controls_extras` — so polling with ``If-None-Match`` is cheap."""
    agent = Agent.objects.select_related("canary_version").get(pk=agent_id)
    fleet = GlobalControls.load()
    deployed = AgentVersion.objects.filter(agent=agent, state=VersionState.DEPLOYED).first()
    canary = agent.canary_version if agent.canary_share_pct > 0 else None
    body = {
        "agent": agent.slug,
        "side_effects_enabled": bool(agent.side_effects_enabled and fleet.side_effects_enabled),
        "agent_side_effects_enabled": agent.side_effects_enabled,
        "global_side_effects_enabled": fleet.side_effects_enabled,
        "deployed_version": _version_dict(deployed),
        "canary_version": _version_dict(canary),
        # A share without a canary version (or a version without a share) routes nothing.
        "canary_share_pct": str(agent.canary_share_pct if canary else Decimal("0.00")),
        "policy_version": deployed.policy_version if deployed else None,
        "revision": f"{agent.controls_revision}.{fleet.revision}",
    }
    for contribute in controls_extras:
        extra = contribute(agent) or {}
        body.update({k: v for k, v in extra.items() if k not in ("agent", "revision")})
    etag = '"' + canonical_sha256(body)[:32] + '"'
    return body, etag


def agent_violations(*, agent: Agent, limit: int = 20) -> list[ComplianceViolation]:
    return list(ComplianceViolation.objects.filter(agent=agent).select_related("version").order_by("-hour")[:limit])


def violations_recent(*, user, days: int = 7) -> QuerySet[ComplianceViolation]:
    """Violations of the last ``days`` days on agents the user may see, newest first."""
    since = timezone.now() - timedelta(days=days)
    return (
        ComplianceViolation.objects.filter(agent__in=agents_visible_to(user), last_seen_at__gte=since)
        .select_related("agent")
        .order_by("-last_seen_at")
    )


def violations_run_total(*, qs: QuerySet[ComplianceViolation]) -> int:
    return qs.aggregate(n=Sum("run_count"))["n"] or 0


def violations_of_agent_between(*, agent: Agent, start, end) -> QuerySet[ComplianceViolation]:
    """The agent's compliance violations in the hours of [start, end) (a review's period)."""
    return ComplianceViolation.objects.filter(agent=agent, hour__gte=start, hour__lt=end)


@dataclass(frozen=True)
class ViolationGroup:
    """One line of the home page: an agent broke one rule in ``hours`` hourly windows."""

    agent: Agent
    kind: str
    kind_label: str
    hours: int
    runs: int
    first_hour: datetime
    last_hour: datetime


def violations_recent_grouped(*, user, days: int = 7, limit: int = 10) -> list[ViolationGroup]:
    """Recent violations one line per agent and rule, most recently seen first.

    The table keeps one row per agent, version, rule and hour (so a misbehaving agent cannot
    flood it); listed as they are, those rows read as near-identical lines on the home page."""
    rows = list(
        violations_recent(user=user, days=days)
        .order_by()
        .values("agent", "kind")
        .annotate(
            hours=Count("pk"),
            runs=Sum("run_count"),
            first_hour=Min("hour"),
            last_hour=Max("hour"),
            last_seen=Max("last_seen_at"),
        )
        .order_by("-last_seen", "agent", "kind")[:limit]
    )
    agents = Agent.objects.in_bulk({r["agent"] for r in rows})
    labels = dict(ViolationKind.choices)
    return [
        ViolationGroup(
            agent=agents[r["agent"]],
            kind=r["kind"],
            kind_label=labels.get(r["kind"], r["kind"]),
            hours=r["hours"],
            runs=r["runs"],
            first_hour=r["first_hour"],
            last_hour=r["last_hour"],
        )
        for r in rows
    ]


# --- run windows from rollups (drift checks) -----------------------------------------------

OUTCOME_COUNTERS = {
    RunOutcome.RESOLVED: "successes",
    RunOutcome.ESCALATED: "escalations",
    RunOutcome.FAILED: "failures",
    RunOutcome.BLOCKED: "blocked",
    RunOutcome.ABANDONED: "abandoned",
}
_SUMMED = ("runs", "errored_or_failed", "cost_usd", *OUTCOME_COUNTERS.values())

Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class RunCounts:
    """One agent's runs started in [start, end): how many, by outcome, how many errored or
    failed, their cost, and (when asked for) their latencies as a ``telemetry.latency`` histogram."""

    start: datetime
    end: datetime
    runs: int
    outcomes: dict[str, int]
    errored_or_failed: int
    cost_usd: Decimal
    latency_hist: list[int]


def _ceil_five(moment: datetime) -> datetime:
    floor = rollups.five_minute_floor(moment)
    return floor if floor == moment else floor + rollups.FIVE_MINUTES


def _window_plan(start: datetime, end: datetime, fine: Range) -> tuple[Range | None, list[Range]]:
    """Which part of [start, end) is read from five-minute rows (whole buckets inside ``fine``),
    and which from raw runs (the partial buckets at the ends, time outside ``fine``)."""
    first, last = _ceil_five(max(start, fine[0])), min(rollups.five_minute_floor(end), fine[1])
    if first >= last:
        return None, [(start, end)]
    return (first, last), [r for r in ((start, first), (last, end)) if r[0] < r[1]]


def _fine_sums(agent_ids: list[int], plans: dict, latency: set[str]) -> dict[tuple[int, str], dict]:
    """Counters (and histograms of the ``latency`` windows) summed over each window's
    five-minute rows of each agent, by the database: one query whatever the window lengths and
    however many agents (keyed by ``(agent_id, window name)``)."""
    ranges = {name: plan[0] for name, plan in plans.items() if plan[0]}
    if not ranges or not agent_ids:
        return {}
    values = ", ".join(["(%s, %s::timestamptz, %s::timestamptz)"] * len(ranges))
    params = [x for name, (lo, hi) in ranges.items() for x in (name, lo, hi)]
    sums = ", ".join(f"coalesce(sum(r.{f}), 0)" for f in _SUMMED)
    # The histograms are summed bucket by bucket in the same pass (one sum per bucket, only over
    # the ``latency`` windows): a day of five-minute rows for a thousand agents never travels to
    # Python as JSON, and no row is multiplied by its buckets.
    hist = ", ".join(
        f"sum((r.latency_hist->>{i})::bigint) FILTER (WHERE w.name = ANY(%s))" for i in range(len(empty_histogram()))
    )
    sql = (
        f"SELECT r.agent_id, w.name, {sums}, {hist} FROM {FiveMinuteRollup._meta.db_table} r "  # noqa: S608 - names from model meta, values bound
        f"JOIN (VALUES {values}) AS w(name, lo, hi) ON r.bucket_start >= w.lo AND r.bucket_start < w.hi "
        "WHERE r.agent_id = ANY(%s) AND r.bucket_start >= %s AND r.bucket_start < %s GROUP BY r.agent_id, w.name"
    )
    bounds = [list(agent_ids), min(lo for lo, _ in ranges.values()), max(hi for _, hi in ranges.values())]
    names = sorted(latency)
    out: dict[tuple[int, str], dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*([names] * len(empty_histogram())), *params, *bounds])
        for agent_id, name, *row in cursor.fetchall():
            counters, buckets = row[: len(_SUMMED)], row[len(_SUMMED) :]
            out[(agent_id, name)] = dict(zip(_SUMMED, counters, strict=True))
            if name in latency:
                out[(agent_id, name)]["latency_hist"] = [int(n or 0) for n in buckets]
    return out


def _counts(window: Range, plan: tuple[Range | None, list[Range]], fine: dict | None, raw_rows: list) -> RunCounts:
    fine = fine or {}
    outcomes = {o: int(fine.get(field, 0)) for o, field in OUTCOME_COUNTERS.items()}
    runs, errored = int(fine.get("runs", 0)), int(fine.get("errored_or_failed", 0))
    cost = Decimal(fine.get("cost_usd", 0))
    hist = list(fine.get("latency_hist") or empty_histogram())
    for started_at, outcome, status, cost_usd, latency_ms in raw_rows:
        if not any(a <= started_at < b for a, b in plan[1]):
            continue
        runs += 1
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        errored += status != RunStatus.OK or outcome == RunOutcome.FAILED
        cost += cost_usd
        hist[bucket_index(latency_ms)] += 1
    return RunCounts(window[0], window[1], runs, outcomes, errored, cost, hist)


def run_windows(
    *,
    agent_id: int,
    windows: dict[str, Range],
    complete_before: datetime,
    latency: set[str] | frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> dict[str, RunCounts]:
    """One agent's runs started in each named window [start, end), equal to a scan of its raw
    runs but read mostly from five-minute rollups: ``run_windows_fleet`` for one agent."""
    return run_windows_fleet(
        agent_ids=[agent_id], windows=windows, complete_before=complete_before, latency=latency, now=now
    ).get(agent_id, {})


def run_windows_fleet(
    *,
    agent_ids: list[int],
    windows: dict[str, Range],
    complete_before: datetime,
    latency: set[str] | frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> dict[int, dict[str, RunCounts]]:
    """Many agents' runs started in each named window [start, end) (the same windows for all),
    each equal to a scan of the agent's raw runs but read mostly from five-minute rollups: whole
    buckets from ``FiveMinuteRollup`` (up to ``complete_before``, what
    ``services.rollup_catch_up_fleet`` returned); the partial buckets at the windows' ends, the
    minutes since ``complete_before`` and any time before the retention from raw runs. Two
    queries whatever the windows and however many agents (set-based: the drift cycle of a whole
    fleet). Latency histograms only for the windows named in ``latency`` (a percentile is known
    within one bucket, ~19 %)."""
    fine = (rollups.five_minute_retention_start(now) + rollups.HOUR, complete_before)
    plans = {name: _window_plan(start, end, fine) for name, (start, end) in windows.items()}
    sums = _fine_sums(agent_ids, plans, set(latency))
    within = Q()
    for start, end in {r for plan in plans.values() for r in plan[1]}:
        within |= Q(started_at__gte=start, started_at__lt=end)
    raw_rows: dict[int, list] = {agent_id: [] for agent_id in agent_ids}
    if within and agent_ids:
        rows = Run.objects.filter(within, agent_id__in=agent_ids, shadow=False).values_list(
            "agent_id", "started_at", "outcome", "status", "cost_usd", "latency_ms"
        )
        for agent_id, *row in rows:
            raw_rows[agent_id].append(row)
    return {
        agent_id: {
            name: _counts(windows[name], plans[name], sums.get((agent_id, name)), raw_rows[agent_id])
            for name in windows
        }
        for agent_id in agent_ids
    }


def rollups_are_current() -> bool:
    """Whether the rollups hold every run stored: a pass has run and no run arrived after its watermark."""
    watermark = RollupState.objects.filter(pk=1).values_list("watermark", flat=True).first()
    return watermark is not None and not Run.objects.filter(received_at__gt=watermark).exists()


# --- OpenTelemetry traces and the discovery queue -------------------------------------------------

# Attributes shown up front on a span of the trace tree (the rest are in the span's details).
TRACE_HIGHLIGHTS = (
    ("gen_ai.input.messages", "Prompt"),
    ("gen_ai.system_instructions", "Instructions"),
    ("gen_ai.retrieval.documents", "Retrieved context"),
    ("gen_ai.output.messages", "Output"),
    ("gen_ai.tool.name", "Tool"),
    ("gen_ai.tool.call.arguments", "Arguments"),
    ("gen_ai.tool.call.result", "Response"),
    ("gen_ai.request.model", "Model"),
    ("gen_ai.usage.input_tokens", "Input tokens"),
    ("gen_ai.usage.output_tokens", "Output tokens"),
)


@dataclass(frozen=True)
class TraceRow:
    """One span of a trace, in tree order: its depth, start offset from the trace's first span and
    duration (ms), and the attributes worth reading first (prompt, context, arguments, output)."""

    span: object  # telemetry.models.Span
    depth: int
    offset_ms: float
    duration_ms: float
    highlights: list[tuple[str, object]]
    others: dict


def run_trace(run) -> list[TraceRow]:
    """The stored spans of ``run``'s trace as a depth-first tree (children by start time).

    Read by agent, trace id and a window around the run's time, so PostgreSQL scans only the
    partitions of those days. Spans whose parent is missing hang from the top."""
    if not run or not run.trace_id:
        return []
    window = timedelta(days=1)
    spans = list(
        Span.objects.filter(
            agent_id=run.agent_id,
            trace_id=run.trace_id,
            start_time__gte=run.started_at - window,
            start_time__lte=run.ended_at + window,
        ).order_by("start_time", "span_id")[:2000]
    )
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str, list] = {}
    roots = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    origin = spans[0].start_time
    rows: list[TraceRow] = []
    stack = [(span, 0) for span in reversed(roots)]
    seen = set()
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        attrs = dict(span.attributes or {})
        highlights = [(label, attrs.pop(key)) for key, label in TRACE_HIGHLIGHTS if key in attrs]
        rows.append(
            TraceRow(
                span=span,
                depth=min(depth, 5),
                offset_ms=round((span.start_time - origin).total_seconds() * 1000, 1),
                duration_ms=round(span.duration_us / 1000, 1),
                highlights=highlights,
                others=attrs,
            )
        )
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return rows


def discoveries(*, state: str | None = DiscoveryState.UNREVIEWED) -> QuerySet[Discovery]:
    """The discovery queue (one state, or every entry), most recently seen first."""
    qs = Discovery.objects.select_related("reviewed_by", "promoted_agent", "promoted_tool", "seen_by_agent")
    return qs.filter(state=state) if state else qs


def discoveries_unreviewed_count() -> int:
    return Discovery.objects.filter(state=DiscoveryState.UNREVIEWED).count()
