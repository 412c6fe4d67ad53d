"""OTLP trace ingest: decode an ``ExportTraceServiceRequest``, keep its spans (redacted) for
replay, make runs of the agent spans through the same ingest as the REST API
(``telemetry.services.runs_ingest``: same validation, governance checks and redaction), and put
what the registry does not know into the discovery queue (``telemetry.discovery``).

Decoding uses the official ``opentelemetry-proto`` messages: protobuf as is, JSON through
protobuf's JSON mapping with the two OTLP departures from it (trace and span ids are hex, not
base64; unknown fields are ignored). Attribute names are read only through
``telemetry.otlp_mapping``."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from psycopg import postgres, pq
from psycopg.adapt import Dumper

from config.api_parsers import json_depth_exceeds
from registry.models import Agent

from . import discovery
from . import otlp_mapping as mapping
from .extensions import held_agent_ids
from .partitions import PartitionedTable, partitions_drop_before, partitions_ensure
from .redaction import deny_list, mask_card_numbers, redact, redact_dict
from .run_partitions import run_partitions_maintain
from .services import ItemResult, runs_ingest

SPANS = PartitionedTable("telemetry_span", period="day")
MAX_BODY_BYTES = 5 * 1024 * 1024  # as sent (compressed or not)
MAX_DECODED_BYTES = 20 * 1024 * 1024  # after gunzip: a small bomb must not expand without bound
MAX_FUTURE = timedelta(minutes=5)
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OTLPError(Exception):
    """A request refused whole (nothing stored): ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def body_decode(raw: bytes, *, content_type: str, content_encoding: str) -> ExportTraceServiceRequest:
    """The request message from the body as sent. Raises :class:`OTLPError`: 415 for a content
    type other than protobuf or JSON (or an unknown encoding), 413 past the size limits, 400 for
    anything that does not decode."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise OTLPError(415, f"Send {PROTOBUF} or {JSON}; got {media or 'no content type'}.")
    if len(raw) > MAX_BODY_BYTES:
        raise OTLPError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw)
    elif encoding not in ("", "identity"):
        raise OTLPError(415, f"Content-Encoding {encoding} is not supported; send gzip or none.")
    message = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            message.ParseFromString(raw)
        except (DecodeError, RecursionError) as exc:
            raise OTLPError(400, f"Malformed protobuf: {exc}") from None
        return message
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise OTLPError(400, f"Malformed JSON: {exc}") from None
    if not isinstance(document, dict) or json_depth_exceeds(document, limit=64):
        raise OTLPError(400, "Malformed JSON: send one ExportTraceServiceRequest object.")
    try:
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise OTLPError(400, f"Malformed OTLP JSON: {str(exc)[:300]}") from None
    return message


def _gunzip(raw: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, MAX_DECODED_BYTES + 1)
    except zlib.error as exc:
        raise OTLPError(400, f"Malformed gzip body: {exc}") from None
    if len(out) > MAX_DECODED_BYTES or decompressor.unconsumed_tail:
        raise OTLPError(413, f"The decompressed body is larger than {MAX_DECODED_BYTES} bytes.")
    if not decompressor.eof:
        raise OTLPError(400, "Malformed gzip body: truncated.")
    return out


def gzip_compress(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1)


def _hex_ids_to_base64(document: dict) -> None:
    """OTLP/JSON sends ids as hex; protobuf's JSON mapping reads bytes as base64."""
    for resource_spans in _list(document.get("resourceSpans", document.get("resource_spans"))):
        for scope_spans in _list(_get(resource_spans, "scopeSpans", "scope_spans")):
            for span in _list(_get(scope_spans, "spans")):
                _convert_ids(span)
                for link in _list(_get(span, "links")):
                    _convert_ids(link)


def _get(obj, *names):
    if not isinstance(obj, dict):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _convert_ids(obj) -> None:
    if not isinstance(obj, dict):
        return
    for camel, snake in (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id")):
        for key in (camel, snake):
            value = obj.get(key)
            if isinstance(value, str):
                try:
                    obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key} must be hex") from None


# --- ingest ------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    """What one export did: spans kept, spans refused (with why), runs made, discoveries."""

    accepted: int = 0
    rejected: int = 0
    messages: list[str] = field(default_factory=list)
    runs: list[ItemResult] = field(default_factory=list)
    held_for_discovery: int = 0

    def error_message(self) -> str:
        return "; ".join(dict.fromkeys(self.messages))[:1000]


def span_records(message: ExportTraceServiceRequest, result: ExportResult, now: datetime) -> list[mapping.SpanRecord]:
    """The export's spans as records; a span no receiver can keep (bad ids, a start outside the
    retention window) is refused and counted on ``result``."""
    oldest = now - timedelta(days=settings.TELEMETRY_SPAN_RETENTION_DAYS)
    latest = now + MAX_FUTURE
    records = []
    for resource_spans in message.resource_spans:
        resource = mapping.attributes(resource_spans.resource.attributes)
        service_name = mapping.resource_service_name(resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    record = mapping.span_record(span, resource, service_name)
                except ValueError as exc:
                    result.rejected += 1
                    result.messages.append(f"span refused: {exc}")
                    continue
                if record.start < oldest or record.start > latest:
                    result.rejected += 1
                    result.messages.append(
                        f"span refused: start time outside the last {settings.TELEMETRY_SPAN_RETENTION_DAYS} days"
                    )
                    continue
                records.append(record)
    return records


def traces_ingest(
    *,
    message: ExportTraceServiceRequest,
    agent: Agent | None,
    received_at: datetime | None = None,
) -> ExportResult:
    """Ingest one OTLP export, all of it in one transaction (a failure stores nothing).

    ``agent`` is the agent whose key sent the export; ``None`` means an organisation-level
    discovery key, under which each trace names its agent (``gen_ai.agent.name``, else the
    resource's ``service.name``). Rules: spans of a registered agent are stored redacted and their
    runs made through ``runs_ingest``; spans naming an unknown agent are not stored but counted in
    the discovery queue; spans of a blocked agent, tool or model are refused and counted there;
    tools missing from the catalog and models no version pins are queued for review."""
    now = received_at or timezone.now()
    result = ExportResult()
    records = span_records(message, result, now)
    if not records:
        return result
    with transaction.atomic():
        groups = {agent: records} if agent is not None else _groups_by_named_agent(records, result, now)
        for group_agent, group in groups.items():
            _agent_spans_ingest(group_agent, group, result, now)
    return result


def _trace_identity(records: list[mapping.SpanRecord]) -> dict[str, str]:
    """Each trace's agent name: its run root's identity, else the first span naming an agent."""
    by_trace: dict[str, str] = {}
    for record in records:
        name = record.attributes.get(mapping.AGENT_NAME)
        if record.operation == mapping.INVOKE_AGENT or (isinstance(name, str) and name):
            by_trace.setdefault(record.trace_id, record.agent_identity)
    for record in records:
        by_trace.setdefault(record.trace_id, record.agent_identity)
    return by_trace


def _groups_by_named_agent(records, result: ExportResult, now) -> dict[Agent, list[mapping.SpanRecord]]:
    identity = _trace_identity(records)
    names = {name for name in identity.values() if name}
    agents = {a.slug: a for a in Agent.objects.filter(slug__in=names)}
    groups: dict[Agent, list] = defaultdict(list)
    unknown: dict[str, list] = defaultdict(list)
    for record in records:
        name = identity.get(record.trace_id, "")
        if name in agents:
            groups[agents[name]].append(record)
        elif not name:
            result.rejected += 1
            result.messages.append("span refused: it names no agent (gen_ai.agent.name or service.name)")
        else:
            unknown[name].append(record)
    if unknown:
        outcome = discovery.agents_seen(
            {name: _agent_sample(spans) for name, spans in unknown.items()},
            {name: len(spans) for name, spans in unknown.items()},
            now=now,
        )
        for name, spans in unknown.items():
            if outcome.get(name) == "blocked":
                result.rejected += len(spans)
                result.messages.append(f"spans refused: agent {name[:60]} is blocked")
            else:
                result.held_for_discovery += len(spans)
                result.messages.append(f"spans of unregistered agent {name[:60]} held for review (discovery queue)")
    return groups


def _first(spans: list[mapping.SpanRecord], key: str) -> str:
    return next((str(s.attributes[key]) for s in spans if s.attributes.get(key)), "")


def _agent_sample(spans: list[mapping.SpanRecord]) -> dict:
    """What an unknown agent's spans said about it (redacted): pre-fills its promotion."""
    return redact(
        {
            "service_name": spans[0].service_name,
            "agent_name": _first(spans, mapping.AGENT_NAME),
            "version": _first(spans, mapping.AGENT_VERSION),
            "description": _first(spans, "gen_ai.agent.description"),
            "models": sorted({s.model for s in spans if s.model})[:10],
            "tools": sorted({s.tool_name for s in spans if s.tool_name})[:20],
        }
    )


def _name_counts(records: list[mapping.SpanRecord]) -> tuple[dict[str, int], dict[str, int]]:
    """How many of ``records`` name each tool (``execute_tool`` spans) and each model: one pass
    (the names were read span by span three times over: for the lookup, the block check and the
    catalog gaps)."""
    tool_counts: dict[str, int] = {}
    model_counts: dict[str, int] = {}
    execute_tool = mapping.EXECUTE_TOOL
    for record in records:
        if record.operation == execute_tool:
            tool = record.tool_name
            if tool:
                tool_counts[tool] = tool_counts.get(tool, 0) + 1
        model = record.model
        if model:
            model_counts[model] = model_counts.get(model, 0) + 1
    return tool_counts, model_counts


def _agent_spans_ingest(agent: Agent, records: list[mapping.SpanRecord], result: ExportResult, now) -> None:
    tool_counts, model_counts = _name_counts(records)
    known = discovery.names_known(tools=tool_counts, models=model_counts)
    blocked_tools, blocked_models = known.blocked_tools, known.blocked_models
    kept = records
    if (blocked_tools and not blocked_tools.isdisjoint(tool_counts)) or (
        blocked_models and not blocked_models.isdisjoint(model_counts)
    ):
        kept = []
        for record in records:
            blocked = (record.operation == mapping.EXECUTE_TOOL and record.tool_name in blocked_tools) or (
                record.model and record.model in blocked_models
            )
            if blocked:
                result.rejected += 1
                result.messages.append(f"span refused: {record.tool_name or record.model} is blocked")
                discovery.blocked_hit(
                    tool=record.tool_name if record.tool_name in blocked_tools else "", model=record.model
                )
                continue
            kept.append(record)
        if not kept:
            return
        tool_counts, model_counts = _name_counts(kept)
    # Runs first: the span table then holds only spans of earlier exports, which is what they need.
    items = _run_items(agent, kept)
    _spans_store(agent, kept, now)
    result.accepted += len(kept)
    discovery.catalog_gaps_seen(agent=agent, tool_counts=tool_counts, model_counts=model_counts, now=now, known=known)
    if items:
        runs = runs_ingest(agent=agent, items=items, received_at=now)
        result.runs.extend(runs)
        for run in runs:
            if run.status == "invalid":
                detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in run.errors)[:300]
                result.messages.append(f"run {run.run_id} not made: {detail}")
    _late_spans_fold(agent, kept, made_for={item["trace_id"] for item in items})


_FOLDED_FIELDS = ("input_tokens", "output_tokens", "cost_usd", "tool_calls", "tools_used")


def _late_spans_fold(agent: Agent, records: list[mapping.SpanRecord], *, made_for: set[str]) -> int:
    """Rule: spans that arrive after their run was made (a child exported after its root, as a
    batch processor may do) count in that run: its tool calls, tools used, tokens and cost are
    made again from every stored span of the trace, and a tool the version does not grant is a
    violation as on any run. Returns the number of runs updated.

    Race: two exports of the same trace at once; the run rows are locked, so the second one
    recomputes from the spans both stored."""
    from .models import Run

    late = {r.trace_id for r in records} - made_for
    if not late:
        return 0
    runs = list(
        Run.objects.select_for_update(of=("self",))
        .filter(agent_id=agent.pk, trace_id__in=late, metadata__source="otlp")
        .select_related("version")
    )
    if not runs:
        return 0
    stored = _stored_spans(
        agent, {run.trace_id for run in runs}, min(run.started_at for run in runs) - timedelta(minutes=1)
    )
    updated = 0
    for run in runs:
        item = _run_item_of(run, [s for s in stored if s.trace_id == run.trace_id])
        if item is None or all(getattr(run, f) == item[f] for f in _FOLDED_FIELDS):
            continue
        Run.objects.filter(pk=run.pk).update(**{f: item[f] for f in _FOLDED_FIELDS})
        updated += 1
        _late_tools_check(agent, run, item["tools_used"])
    return updated


def _run_item_of(run, spans: list[mapping.SpanRecord]) -> dict | None:
    """The summary ``spans`` (one trace, as stored) make for ``run``: its root is the run root
    whose item carries the run's id."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[mapping.SpanRecord]] = defaultdict(list)
    for span in spans:
        if span.parent_span_id:
            children[span.parent_span_id].append(span)
    for root in (s for s in spans if mapping.is_run_root(s, by_id)):
        descendants, frontier = [], [root.span_id]
        while frontier:
            below = [child for span_id in frontier for child in children.get(span_id, ())]
            descendants.extend(below)
            frontier = [child.span_id for child in below]
        item = mapping.run_item(root, descendants)
        if item["run_id"] == run.run_id or (root.trace_id == run.trace_id and root.start == run.started_at):
            return item
    return None


def _late_tools_check(agent: Agent, run, tools_used: list[str]) -> None:
    from telemetry.choices import ViolationKind

    from .services import violation_record_once

    version = run.version
    if version is None:
        return
    ungranted = sorted(set(tools_used) - set(version.grants.values_list("tool__name", flat=True)))
    if ungranted:
        violation_record_once(
            agent=agent, version=version, kind=ViolationKind.UNGRANTED_TOOL, key=version.label,
            detail=f"Tool(s) {', '.join(ungranted)[:300]} used; not granted to version {version.label}.",
            source=run.run_id,
        )  # fmt: skip


def _run_items(agent: Agent, records: list[mapping.SpanRecord]) -> list[dict]:
    """Run summaries for the run roots in ``records``; descendants that arrived in earlier exports
    (children end, and are exported, before their parent) are read back from the span table."""
    by_id = {r.span_id: r for r in records}
    roots = [r for r in records if mapping.is_run_root(r, by_id)]
    if not roots:
        return []
    earliest = min(r.start for r in roots) - timedelta(minutes=1)
    stored = _stored_spans(agent, {r.trace_id for r in roots}, earliest)
    everything = {**{s.span_id: s for s in stored}, **by_id}
    children: dict[str, list[mapping.SpanRecord]] = defaultdict(list)
    for span in everything.values():
        if span.parent_span_id:
            children[span.parent_span_id].append(span)
    items = []
    for root in roots:
        descendants, frontier, seen = [], [root.span_id], {root.span_id}
        while frontier:
            nxt = []
            for span_id in frontier:
                for child in children.get(span_id, ()):
                    if child.span_id not in seen and child.trace_id == root.trace_id:
                        seen.add(child.span_id)
                        descendants.append(child)
                        nxt.append(child.span_id)
            frontier = nxt
        items.append(mapping.run_item(root, descendants))
    return items


# One index probe per trace (agent, trace id), whatever the statistics say. A plain
# ``trace_id = ANY(…)`` on a day partition not yet analysed (a new day, before autovacuum's pass)
# could read every span of the agent since the earliest root instead (12,800 rows, 4 ms, in the OTLP
# bench). ``OFFSET 0`` keeps the subquery from being flattened into a join that could hash over such
# a scan; each probe's two equalities are the most selective index there is (the (agent, start
# time) index, which tied with it on a small unanalysed partition, is gone: migration 0016).
# Partitions are still pruned by ``start_time``.
STORED_SPANS_SQL = (
    "SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.operation, s.start_time, s.end_time, "  # noqa: S608
    "s.status_code, s.attributes FROM unnest(%s::varchar[]) AS t(trace_id) CROSS JOIN LATERAL ("
    f"SELECT * FROM {SPANS.name} s WHERE s.agent_id = %s AND s.trace_id = t.trace_id "
    "AND s.start_time >= %s OFFSET 0) s"
)


def _stored_spans(agent: Agent, trace_ids: set[str], since: datetime) -> list[mapping.SpanRecord]:
    with connection.cursor() as cursor:
        cursor.execute(STORED_SPANS_SQL, [sorted(trace_ids), agent.pk, since])
        rows = cursor.fetchall()
    return [
        mapping.SpanRecord(t, s, p, n, op, st, en, sc, "", "", _json_value(attrs) or {}, [])
        for t, s, p, n, op, st, en, sc, attrs in rows
    ]


def _json_value(value):
    # Django's PostgreSQL backend hands jsonb to raw cursors as text (its JSONField parses it).
    return mapping.json_value(value) if isinstance(value, str) else value


_SPAN_COLUMNS = (
    "agent_id", "trace_id", "span_id", "parent_span_id", "name", "operation", "start_time", "end_time",
    "duration_us", "status_code", "status_message", "service_name", "attributes", "events", "received_at",
)  # fmt: skip
_partitions_made: set = set()


# The standard encoder, for what orjson refuses (integers past 64 bits, keys that are not strings).
_json_encode = json.JSONEncoder(default=str).encode


def _to_json(value) -> bytes:
    """A span's attributes or events as JSON (UTF-8) for the jsonb columns. orjson: the 512-span
    export's rows encode in 0.11 ms instead of 1.29 ms; it also writes NaN and infinities as null,
    where the standard encoder wrote ``NaN``, which jsonb refuses (the whole export failed)."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return _json_encode(value).encode()


class _EncodedJsonb(Dumper):
    """jsonb in binary COPY: the version byte and the JSON the rows already hold, encoded."""

    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj


# The columns' types, in _SPAN_COLUMNS order: binary COPY takes each value as its type's binary
# form (PostgreSQL applies no cast).
_SPAN_TYPES = (
    "int8", "varchar", "varchar", "varchar", "varchar", "varchar", "timestamptz", "timestamptz",
    "int8", "int2", "varchar", "varchar", "jsonb", "jsonb", "timestamptz",
)  # fmt: skip


def span_rows(agent_id: int, records: list[mapping.SpanRecord], now: datetime) -> list[tuple]:
    """The rows COPY writes (:func:`spans_copy`): attributes and events redacted (deny-listed
    keys, card numbers) and encoded as JSON bytes; times as timezone-aware datetimes."""
    return list(span_rows_iter(agent_id, records, now))


def span_rows_iter(agent_id: int, records: list[mapping.SpanRecord], now: datetime) -> Iterator[tuple]:
    """:func:`span_rows` one at a time. The ingest streams them into COPY: psycopg sends every
    32 KiB as it fills, so PostgreSQL parses and indexes the first rows while Python redacts and
    encodes the next (on two cores they overlap instead of taking turns)."""
    denied = deny_list()
    # Hot loop (every span): the calls a row needs are made inline (a span's attributes are a
    # dict: redact_dict is what redact dispatches to; short names and no status message cannot
    # hold a card number; the duration is the property's formula).
    dumps, micro = orjson.dumps, mapping.MICROSECOND
    for r in records:
        name, status_message, start, end = r.name, r.status_message, r.start, r.end
        attributes = redact_dict(r.attributes, denied)
        try:
            attributes_json = dumps(attributes, default=str)
        except TypeError:
            attributes_json = _json_encode(attributes).encode()
        yield (
            agent_id,
            r.trace_id,
            r.span_id,
            r.parent_span_id,
            name if len(name) < 13 else mask_card_numbers(name),
            r.operation,
            start,
            end,
            max(0, (end - start) // micro),
            r.status_code,
            mask_card_numbers(status_message) if status_message else "",
            r.service_name,
            attributes_json,
            _to_json(redact(r.events, denied)) if r.events else b"[]",
            now,
        )


def spans_copy(rows: Iterable[tuple], table: str = SPANS.name) -> None:
    """Append span rows (:func:`span_rows`) with COPY (the fastest way into PostgreSQL), into
    ``table``: the partitioned table, or the one day's partition that holds every row.

    Binary COPY: psycopg writes the times and integers in their binary forms (in C) and
    PostgreSQL parses no text for them; text COPY made Python format every time as ISO 8601
    text (a third of the rows' cost) and the server parse it back. The jsonb columns take the
    JSON the rows already hold (:class:`_EncodedJsonb`, on this cursor only)."""
    sql = f"COPY {table} ({', '.join(_SPAN_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.adapters.register_dumper(None, _EncodedJsonb)
        with raw.copy(sql) as copy:
            copy.set_types(_SPAN_TYPES)
            for row in rows:
                copy.write_row(row)


def _spans_store(agent: Agent, records: list[mapping.SpanRecord], now: datetime) -> None:
    days = {SPANS.slice_start(r.start) for r in records}
    missing = days - _partitions_made
    if missing:
        partitions_ensure(SPANS, min(missing), max(missing))
        # Remembered only once committed: a rolled-back export takes its new partition with it.
        transaction.on_commit(lambda: _partitions_made.update(missing))
    # An export's spans nearly always start on one day: COPY straight into that day's partition
    # skips routing each row through the parent (about a tenth of the COPY). PostgreSQL still
    # checks each row against the partition's bounds.
    table = SPANS.partition_name(next(iter(days))) if len(days) == 1 else SPANS.name
    spans_copy(span_rows_iter(agent.pk, records, now), table)


# --- retention ---------------------------------------------------------------------------------


def spans_purge_before(when: datetime) -> int:
    """Retention: remove every span that started before ``when``. Whole days go by dropping their
    partitions (instant, no dead rows); the rows of the day ``when`` falls in are deleted.
    Returns the number of partitions dropped.

    A legal hold suspends it for the held agents (``telemetry.extensions.retention_holds``): while
    any agent is held no partition is dropped (a day's partition holds every agent's spans), and
    only the other agents' rows are deleted."""
    held = sorted(held_agent_ids())
    if held:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {SPANS.name} WHERE start_time < %s AND NOT (agent_id = ANY(%s))",  # noqa: S608 - constant
                [when, held],
            )
        return 0
    dropped = partitions_drop_before(SPANS, when)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SPANS.name} WHERE start_time < %s", [when])  # noqa: S608 - constant name
    _partitions_made.clear()  # this process may have made some of the dropped ones
    return len(dropped)


def spans_maintain(*, now: datetime | None = None) -> dict:
    """The hourly beat task: partitions for the next ``TELEMETRY_SPAN_PARTITIONS_AHEAD_DAYS`` days
    exist, and spans older than ``TELEMETRY_SPAN_RETENTION_DAYS`` are gone. The runs' monthly
    partitions are made ahead here too (``run_partitions_maintain``; their retention is the
    trail's nightly purge)."""
    now = now or timezone.now()
    created = partitions_ensure(SPANS, now, now + timedelta(days=settings.TELEMETRY_SPAN_PARTITIONS_AHEAD_DAYS))
    dropped = spans_purge_before(now - timedelta(days=settings.TELEMETRY_SPAN_RETENTION_DAYS))
    run_months = run_partitions_maintain(now=now)
    return {"created": len(created), "dropped": dropped, "run_partitions_created": len(run_months)}
