"""OpenTelemetry GenAI spans → Quorum: the one place that knows attribute names.

Pinned to the GenAI semantic conventions **v1.37.0** (:data:`SEMCONV_VERSION`; the conventions
are at "Development" status and moved to their own repository with breaking renames). Older
names met in the wild are rewritten to the pinned ones first (:data:`RENAMED`), so an agent on
an older instrumentation library makes exactly the same run as one on a current one. The README's
"OpenTelemetry (OTLP) ingest" section carries this table; keep both in step.

What makes a run: an ``invoke_agent`` span with no ``invoke_agent`` ancestor, or a root span
(no parent) carrying the agent's identity (``gen_ai.agent.name``). Its descendants give the run
its content: ``execute_tool`` spans are its tool calls (``gen_ai.tool.name``, arguments and
result), ``chat`` (and the other inference operations) give model and token usage. Attributes a
run needs that the conventions do not define travel as ``quorum.*`` attributes (outcome, reason,
bundle digest, cost when ``gen_ai.usage.cost`` is absent)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import orjson

SEMCONV_VERSION = "1.37.0"

# older name → the pinned name (values unchanged)
RENAMED: dict[str, str] = {
    "gen_ai.usage.prompt_tokens": "gen_ai.usage.input_tokens",
    "gen_ai.usage.completion_tokens": "gen_ai.usage.output_tokens",
    "gen_ai.system": "gen_ai.provider.name",
    "gen_ai.prompt": "gen_ai.input.messages",
    "gen_ai.completion": "gen_ai.output.messages",
    "gen_ai.openai.request.seed": "gen_ai.request.seed",
    "gen_ai.tool.arguments": "gen_ai.tool.call.arguments",
    "gen_ai.tool.result": "gen_ai.tool.call.result",
}

OPERATION = "gen_ai.operation.name"
INVOKE_AGENT = "invoke_agent"
EXECUTE_TOOL = "execute_tool"
# Operations whose spans are a model call (tokens and model are summed from these).
INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
KNOWN_OPERATIONS = frozenset({INVOKE_AGENT, EXECUTE_TOOL, "create_agent", "embeddings", *INFERENCE_OPERATIONS})

AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
AGENT_VERSION = "gen_ai.agent.version"
TOOL_NAME = "gen_ai.tool.name"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER = "gen_ai.provider.name"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
COST = "gen_ai.usage.cost"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
# Quorum's own (no convention defines them).
Q_RUN_ID = "quorum.run.id"
Q_OUTCOME = "quorum.run.outcome"
Q_REASON = "quorum.run.reason"
Q_CHANNEL = "quorum.run.channel"
Q_DIGEST = "quorum.agent.bundle_digest"  # as the Quorum SDK's span processor stamps it
Q_COST = "quorum.cost_usd"
Q_SHADOW = "quorum.run.shadow"  # true: a shadow run (kept out of production figures)

# Values that are JSON documents sent as strings: parsed so redaction sees their keys.
JSON_VALUED = frozenset({TOOL_ARGUMENTS, TOOL_RESULT, INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS})
# A tool name the catalog could hold (dotted lower case, as registry.models.Tool requires).
CATALOG_TOOL = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_NOT_TOOL_CHAR = re.compile(r"[^a-z0-9_]+")
UNLISTED_PREFIX = "unlisted."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
MAX_STRING = 8192  # longer attribute strings are cut (a span is evidence, not a blob store)
# 19 digits in a row: possibly an integer past 64 bits, which orjson would read as a float (digits
# lost, and a card number no longer masked as one); the standard parser keeps such integers exact.
_LONG_DIGITS = re.compile(r"[0-9]{19}").search


def json_value(text: str):
    """A JSON document sent as a string, parsed; ``ValueError`` when it is not one (NaN and
    Infinity are not JSON: PostgreSQL's jsonb refuses them too).

    orjson, about six times faster than the standard parser on the tool arguments and messages of
    a 512-span export (0.96 -> 0.37 ms with the long-digits check)."""
    if _LONG_DIGITS(text):
        return json.loads(text)
    return orjson.loads(text)


def any_value(value):
    """An OTLP ``AnyValue`` as plain JSON-ready Python."""
    kind = value.WhichOneof("value")
    if kind == "string_value":  # most attributes: tested first
        return value.string_value[:MAX_STRING]
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()[:MAX_STRING]
    return getattr(value, kind)


def attributes(key_values) -> dict:
    """OTLP attributes as a dict under the pinned names (older names rewritten)."""
    out = {}
    # Hot loop (every attribute of every span): each protobuf field access builds a Python
    # object, so each is read once, and plain strings skip the generic any_value dispatch.
    renamed, json_valued = RENAMED, JSON_VALUED
    for kv in key_values:
        key = kv.key
        key = renamed.get(key, key)
        anyvalue = kv.value
        # A non-empty string_value means the oneof holds a string (one read instead of two);
        # an empty one may be an empty string or another kind: the generic path tells which.
        value = anyvalue.string_value
        if value:
            value = value[:MAX_STRING]
            if key in json_valued and value[0] in "{[":
                # try/except, not contextlib.suppress: a context manager object and two calls
                # per JSON-valued attribute (most tool and chat spans carry one or two).
                try:  # noqa: SIM105 - see above
                    value = json_value(value)
                except ValueError:
                    pass  # kept as sent: it merely starts with a brace
        else:
            value = any_value(anyvalue)
        out[key] = value
    return out


def nanos_to_datetime(nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanos // 1000)


@dataclass(slots=True)
class SpanRecord:
    """One span, decoded and mapped (before redaction). Slots: made 512 times per export and
    read many times over (mapping, governance, rows)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    operation: str
    start: datetime
    end: datetime
    status_code: int
    status_message: str
    service_name: str
    attributes: dict
    events: list
    resource: dict = field(default_factory=dict)

    @property
    def duration_us(self) -> int:
        # Integer division of timedeltas: exact, and no float or new timedelta per span.
        return max(0, (self.end - self.start) // MICROSECOND)

    @property
    def agent_identity(self) -> str:
        """The agent the span names: ``gen_ai.agent.name``, else ``gen_ai.agent.id``, else the service."""
        for key in (AGENT_NAME, AGENT_ID):
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return self.service_name

    @property
    def model(self) -> str:
        value = self.attributes.get(RESPONSE_MODEL) or self.attributes.get(REQUEST_MODEL) or ""
        return str(value)[:120]

    @property
    def tool_name(self) -> str:
        value = self.attributes.get(TOOL_NAME) or ""
        return str(value)[:120]


def resource_service_name(resource: dict) -> str:
    return str(resource.get(SERVICE_NAME) or "")[:200]


def operation_of(name: str, attrs: dict) -> str:
    """``gen_ai.operation.name``, or the first word of the span name when it is a known operation
    (the conventions name spans ``"{operation} {target}"``)."""
    operation = attrs.get(OPERATION)
    if isinstance(operation, str) and operation:
        return operation[:40]
    first = name.split(" ", 1)[0]
    return first if first in KNOWN_OPERATIONS else ""


def span_record(span, resource: dict, service_name: str | None = None) -> SpanRecord:
    """An OTLP ``Span`` message (with its resource's attributes) as a :class:`SpanRecord`.
    ``service_name`` is :func:`resource_service_name` of ``resource`` when the caller has it
    (once per resource instead of once per span). Raises ``ValueError`` for a span no receiver
    can keep (ids of the wrong length)."""
    if service_name is None:
        service_name = resource_service_name(resource)
    trace_id, span_id, parent_span_id = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or len(span_id) != 8 or len(parent_span_id) not in (0, 8):
        raise ValueError("trace_id must be 16 bytes, span_id and parent_span_id 8 bytes")
    attrs = attributes(span.attributes)
    # Hot path (every span): each protobuf field read builds a Python object, so each is read once.
    start_nanos = span.start_time_unix_nano
    end_nanos = span.end_time_unix_nano
    start = _EPOCH + timedelta(microseconds=start_nanos // 1000)
    end = start if end_nanos <= start_nanos else _EPOCH + timedelta(microseconds=end_nanos // 1000)
    events = (
        [
            {
                "name": event.name[:200],
                "offset_us": max(0, (event.time_unix_nano - start_nanos) // 1000),
                "attributes": attributes(event.attributes),
            }
            for event in span.events
        ]
        if len(span.events)
        else []
    )
    status = span.status
    code = status.code
    name = span.name
    operation = attrs.get(OPERATION)
    # Positional: keyword arguments cost about twice as much to bind, once per span.
    return SpanRecord(
        trace_id.hex(),
        span_id.hex(),
        parent_span_id.hex(),
        name[:200],
        operation[:40] if isinstance(operation, str) and operation else operation_of(name, attrs),
        start,
        end,
        int(code) if 0 <= code <= 2 else 0,
        status.message[:500],
        service_name,
        attrs,
        events,
        resource,
    )


def is_run_root(span: SpanRecord, by_id: dict[str, SpanRecord]) -> bool:
    """Rule: a run is an ``invoke_agent`` span with no ``invoke_agent`` ancestor among the spans
    known, or a root span (no parent) that carries the agent's identity."""
    if span.operation == INVOKE_AGENT:
        parent = by_id.get(span.parent_span_id)
        seen = set()
        while parent is not None and parent.span_id not in seen:
            if parent.operation == INVOKE_AGENT:
                return False
            seen.add(parent.span_id)
            parent = by_id.get(parent.parent_span_id)
        return True
    return not span.parent_span_id and bool(span.attributes.get(AGENT_NAME))


@functools.lru_cache(maxsize=4096)  # every tool span of every run: a regex apiece; bounded for hostile names
def catalog_tool_name(name: str) -> str:
    """The tool name as the catalog could hold it: a dotted lower-case name stays; any other is
    filed under ``unlisted.<name>`` (no catalog tool has that name, so using it is ungranted)."""
    if CATALOG_TOOL.match(name):
        return name
    cleaned = _NOT_TOOL_CHAR.sub("_", name.lower()).strip("_") or "tool"
    if not cleaned[0].isalpha():
        cleaned = "t_" + cleaned
    return (UNLISTED_PREFIX + cleaned)[:120]


def _int(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return max(0, int(value))
    return 0


def _cost(value) -> Decimal:
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0")
    return cost.quantize(Decimal("0.000001")) if cost.is_finite() and cost >= 0 else Decimal("0")


def run_item(root: SpanRecord, descendants: list[SpanRecord]) -> dict:
    """The run summary (``telemetry.schemas.RunIn`` shape) a root span and its descendants make.

    Model and tokens come from the inference spans when there are any (the root's own usage
    otherwise, never both: an ``invoke_agent`` span may carry the total of its children); cost
    is ``gen_ai.usage.cost`` (or ``quorum.cost_usd``) summed the same way."""
    attrs = root.attributes
    inference = [s for s in descendants if s.operation in INFERENCE_OPERATIONS]
    usage_spans = inference or [root]
    tools = [s for s in descendants if s.operation == EXECUTE_TOOL]
    tools_used = list(dict.fromkeys(catalog_tool_name(s.tool_name) for s in tools if s.tool_name))
    model = root.model or next((s.model for s in inference if s.model), "")
    cost = sum((_cost(s.attributes.get(COST, s.attributes.get(Q_COST, 0))) for s in usage_spans), Decimal("0"))
    errored = root.status_code == 2
    outcome = str(attrs.get(Q_OUTCOME) or ("failed" if errored else "resolved"))
    reason = attrs.get(Q_REASON) or ("other" if outcome in ("escalated", "failed", "blocked") else None)
    label = attrs.get(AGENT_VERSION) or root.resource.get(SERVICE_VERSION) or "unversioned"
    item = {
        "run_id": str(attrs.get(Q_RUN_ID) or f"{root.trace_id}:{root.span_id}"),
        "version_label": str(label)[:40],
        "bundle_digest": str(attrs.get(Q_DIGEST) or ""),
        "model": model,
        "started_at": root.start,
        "ended_at": root.end,
        "status": "error" if errored else "ok",
        "outcome": outcome,
        "reason": reason,
        "input_tokens": min(sum(_int(s.attributes.get(INPUT_TOKENS)) for s in usage_spans), 100_000_000),
        "output_tokens": min(sum(_int(s.attributes.get(OUTPUT_TOKENS)) for s in usage_spans), 100_000_000),
        "cost_usd": cost,
        "tool_calls": len(tools),
        "tools_used": tools_used[:100],
        "trace_id": root.trace_id,
        "metadata": {
            "source": "otlp",
            "semconv": SEMCONV_VERSION,
            "root_span": root.name,
            "service_name": root.service_name,
            **({"agent_name": attrs[AGENT_NAME]} if isinstance(attrs.get(AGENT_NAME), str) else {}),
            **({"provider": attrs[PROVIDER]} if isinstance(attrs.get(PROVIDER), str) else {}),
        },
    }
    if attrs.get(Q_SHADOW) is True or str(attrs.get(Q_SHADOW)).lower() == "true":
        item["shadow"] = True
    if attrs.get(Q_CHANNEL):
        item["channel"] = str(attrs[Q_CHANNEL])[:20]
    return item
