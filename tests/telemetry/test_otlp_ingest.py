"""OTLP ingest through the receiver (Django's test client): runs, spans, redaction on the raw
rows, the answers the OTLP specification asks for, and the older GenAI attribute names."""

from __future__ import annotations

import gzip
import json

import pytest
from django.db import connection
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from telemetry import otlp_mapping
from telemetry.choices import ViolationKind
from telemetry.models import ComplianceViolation, Discovery, Run, Span
from tests.telemetry.otel_agent import recorded, to_otlp_json

pytestmark = pytest.mark.django_db
URL = "/v1/traces"
PB = "application/x-protobuf"


def _post(client, body: bytes, key: str | None, content_type: str = PB, url: str = URL, **headers):
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client.generic("POST", url, body, content_type=content_type, **headers)


def _answer(response) -> ExportTraceServiceResponse:
    return ExportTraceServiceResponse.FromString(response.content)


def _nothing_stored(agent):
    assert not Run.objects.filter(agent=agent).exists()
    assert not Span.objects.filter(agent_id=agent.pk).exists()


def test_protobuf_export_makes_a_run_with_tools_tokens_and_cost(client, agent, agent_key, deployed_version):
    response = _post(client, recorded(tools=("tickets.read",)).SerializeToString(), agent_key)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == PB
    assert not _answer(response).HasField("partial_success")
    run = Run.objects.get(agent=agent)
    assert run.tools_used == ["tickets.read"] and run.tool_calls == 1
    assert (run.input_tokens, run.output_tokens) == (320, 80)
    assert str(run.cost_usd) == "0.004000"
    assert run.model == "gpt-4o" and run.version == deployed_version and run.outcome == "resolved"
    assert run.metadata["semconv"] == otlp_mapping.SEMCONV_VERSION
    assert Span.objects.filter(agent_id=agent.pk, trace_id=run.trace_id).count() == 4
    assert not ComplianceViolation.objects.exists()
    # A replayed export is idempotent for runs (the run id is trace:span).
    _post(client, recorded(tools=("tickets.read",)).SerializeToString(), agent_key)
    assert Run.objects.filter(agent=agent).count() == 2  # a new loop is a new trace


def test_json_export_gzipped_on_the_alias_answers_json(client, agent, agent_key, deployed_version):
    body = gzip.compress(to_otlp_json(recorded(tools=("tickets.read", "tickets.reply"))))
    response = _post(
        client,
        body,
        agent_key,
        content_type="application/json",
        url="/api/v1/otlp/v1/traces",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {}
    run = Run.objects.get(agent=agent)
    assert run.tools_used == ["tickets.read", "tickets.reply"] and run.tool_calls == 2


def test_an_ungranted_tool_in_a_span_raises_a_violation_and_queues_the_unknown_tool(
    client, agent, agent_key, deployed_version
):
    message = recorded(tools=("tickets.read", "payments.refund", "lookupWeather"))
    assert _post(client, message.SerializeToString(), agent_key).status_code == 200
    run = Run.objects.get(agent=agent)
    assert run.tools_used == ["tickets.read", "payments.refund", "unlisted.lookupweather"]
    violation = ComplianceViolation.objects.get(agent=agent)
    assert violation.kind == ViolationKind.UNGRANTED_TOOL
    assert "payments.refund" in violation.detail and "unlisted.lookupweather" in violation.detail
    queued = set(Discovery.objects.filter(kind="tool").values_list("name", "seen_by_agent"))
    assert queued == {("payments.refund", agent.pk), ("lookupWeather", agent.pk)}


def test_a_model_no_version_pins_is_queued_and_a_model_mismatch_is_a_violation(
    client, agent, agent_key, deployed_version
):
    assert _post(client, recorded(model="mystery-llm-9").SerializeToString(), agent_key).status_code == 200
    assert ComplianceViolation.objects.get(agent=agent).kind == ViolationKind.MODEL_MISMATCH
    assert Discovery.objects.get(kind="model").name == "mystery-llm-9"


def test_redaction_applies_to_span_attributes_and_tool_arguments_before_storage(
    client, agent, agent_key, deployed_version
):
    message = recorded(tool_arguments={"order_id": 42, "email": "jane@example.test", "api_key": "sk-live-123"})
    assert _post(client, message.SerializeToString(), agent_key).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT attributes::text FROM telemetry_span WHERE agent_id = %s", [agent.pk])
        raw = " ".join(row[0] for row in cursor.fetchall())
    assert "jane@example.test" not in raw and "sk-live-123" not in raw
    assert "4111 1111 1111 1111" not in raw and "************1111" in raw
    tool = Span.objects.get(agent_id=agent.pk, operation="execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == {
        "order_id": 42,
        "email": "[redacted]",
        "api_key": "[redacted]",
    }


def test_malformed_protobuf_is_a_400_status_and_stores_nothing(client, agent, agent_key, deployed_version):
    body = recorded().SerializeToString()[:-7] + b"\xff\xff\xff"
    response = _post(client, body, agent_key)
    assert response.status_code == 400
    status = Status.FromString(response.content)
    assert status.code == 3 and "Malformed protobuf" in status.message
    _nothing_stored(agent)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json"),
        (b"[]", "application/json"),
    ],
)
def test_malformed_json_is_a_400_and_stores_nothing(client, agent, agent_key, body, content_type):
    response = _post(client, body, agent_key, content_type=content_type)
    assert response.status_code == 400
    assert "message" in json.loads(response.content)
    _nothing_stored(agent)


def test_unknown_fields_are_ignored_as_the_specification_says(client, agent, agent_key, deployed_version):
    # Protobuf: field 99 (varint) appended to the request; JSON: keys nobody defined.
    body = recorded().SerializeToString() + b"\x98\x06\x01"
    assert _post(client, body, agent_key).status_code == 200
    document = json.loads(to_otlp_json(recorded()))
    document["somethingNew"] = {"x": 1}
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["futureField"] = "y"
    response = _post(client, json.dumps(document).encode(), agent_key, content_type="application/json")
    assert response.status_code == 200
    assert Run.objects.filter(agent=agent).count() == 2


def test_oversize_bodies_are_413_and_store_nothing(client, agent, agent_key):
    big = b"\x00" * (5 * 1024 * 1024 + 10)
    assert _post(client, big, agent_key).status_code == 413
    bomb = gzip.compress(b"\x0a\x00" * (11 * 1024 * 1024))  # 22 MiB of empty ResourceSpans
    response = _post(client, bomb, agent_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed" in Status.FromString(response.content).message
    _nothing_stored(agent)


def test_a_wrong_or_missing_key_is_401_and_stores_nothing(client, agent, agent_key, deployed_version):
    body = recorded().SerializeToString()
    for key in ("nope.nope", None, agent_key[:-2] + "xx"):
        response = _post(client, body, key)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert Status.FromString(response.content).code == 16
    _nothing_stored(agent)


def test_a_wrong_content_type_is_415(client, agent, agent_key):
    assert _post(client, b"hello", agent_key, content_type="text/plain").status_code == 415
    assert _post(client, b"hello", agent_key, HTTP_CONTENT_ENCODING="br").status_code == 415
    assert client.get(URL).status_code == 405


def test_over_the_rate_limit_is_429_with_retry_after(client, agent, agent_key, deployed_version, settings):
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 1
    body = recorded().SerializeToString()
    assert _post(client, body, agent_key).status_code == 200
    response = _post(client, body, agent_key)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Run.objects.filter(agent=agent).count() == 1


def test_a_span_with_bad_ids_is_refused_and_counted_the_rest_kept(client, agent, agent_key, deployed_version):
    message = recorded()
    message.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    answer = _answer(_post(client, message.SerializeToString(), agent_key))
    assert answer.partial_success.rejected_spans == 1
    assert "span_id" in answer.partial_success.error_message
    assert Span.objects.filter(agent_id=agent.pk).count() == 3


# --- older attribute names: one test per mapped name ------------------------------------------------

OLD_NAMES = {
    "gen_ai.usage.prompt_tokens": {"input_tokens": "gen_ai.usage.prompt_tokens"},
    "gen_ai.usage.completion_tokens": {"output_tokens": "gen_ai.usage.completion_tokens"},
    "gen_ai.system": {"provider": "gen_ai.system"},
    "gen_ai.prompt": {"input_messages": "gen_ai.prompt"},
    "gen_ai.completion": {"output_messages": "gen_ai.completion"},
    "gen_ai.tool.arguments": {"tool_arguments": "gen_ai.tool.arguments"},
    "gen_ai.tool.result": {"tool_result": "gen_ai.tool.result"},
}
RUN_FIELDS = ("model", "input_tokens", "output_tokens", "cost_usd", "tool_calls", "tools_used", "outcome", "version_id")


def test_every_renamed_attribute_has_a_test():
    assert set(OLD_NAMES) | {"gen_ai.openai.request.seed"} == set(otlp_mapping.RENAMED)


@pytest.mark.parametrize("old_name", sorted(OLD_NAMES))
def test_an_older_attribute_name_maps_to_the_same_run(client, agent, agent_key, deployed_version, old_name):
    assert _post(client, recorded().SerializeToString(), agent_key).status_code == 200
    assert _post(client, recorded(names=OLD_NAMES[old_name]).SerializeToString(), agent_key).status_code == 200
    current, older = Run.objects.filter(agent=agent).order_by("started_at")
    assert [getattr(current, f) for f in RUN_FIELDS] == [getattr(older, f) for f in RUN_FIELDS]
    assert current.metadata == older.metadata
    new_name = otlp_mapping.RENAMED[old_name]
    keys = [set(s.attributes) for s in Span.objects.filter(agent_id=agent.pk, trace_id=older.trace_id)]
    assert any(new_name in k for k in keys) and not any(old_name in k for k in keys)


def test_the_openai_seed_attribute_maps_to_the_request_seed():
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    mapped = otlp_mapping.attributes([KeyValue(key="gen_ai.openai.request.seed", value=AnyValue(int_value=7))])
    assert mapped == {"gen_ai.request.seed": 7}


def test_every_attribute_kind_decodes_including_empty_strings_and_braces_that_are_not_json():
    """The string fast path reads string_value first: an empty string and the other kinds (whose
    string_value is empty too) must still decode as what they are."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    mapped = otlp_mapping.attributes(
        [
            KeyValue(key="empty", value=AnyValue(string_value="")),
            KeyValue(key="unset", value=AnyValue()),
            KeyValue(key="zero", value=AnyValue(int_value=0)),
            KeyValue(key="no", value=AnyValue(bool_value=False)),
            KeyValue(key="half", value=AnyValue(double_value=0.5)),
            KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))),
            KeyValue(key="gen_ai.tool.call.arguments", value=AnyValue(string_value='{"a": 1}')),
            KeyValue(key="gen_ai.tool.call.result", value=AnyValue(string_value="{not json")),
            KeyValue(key="long", value=AnyValue(string_value="x" * (otlp_mapping.MAX_STRING + 5))),
        ]
    )
    assert mapped == {
        "empty": "", "unset": None, "zero": 0, "no": False, "half": 0.5, "list": ["a"],
        "gen_ai.tool.call.arguments": {"a": 1}, "gen_ai.tool.call.result": "{not json",
        "long": "x" * otlp_mapping.MAX_STRING,
    }  # fmt: skip


@pytest.mark.parametrize(("value", "shadow"), [(True, True), ("true", True), (False, False), ("yes", False)])
def test_the_shadow_attribute_marks_a_shadow_run(client, agent, agent_key, deployed_version, value, shadow):
    body = recorded(root_attributes={otlp_mapping.Q_SHADOW: value}).SerializeToString()
    assert _post(client, body, agent_key).status_code == 200
    assert Run.objects.get(agent=agent).shadow is shadow


def _split(message, late):
    """Two exports of one recorded loop: the spans ``late(span)`` refuses first, then the rest."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    exports = []
    for wanted in (False, True):
        part = ExportTraceServiceRequest()
        part.CopyFrom(message)
        for resource_spans in part.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                keep = [span for span in scope_spans.spans if late(span) == wanted]
                del scope_spans.spans[:]
                scope_spans.spans.extend(keep)
        exports.append(part.SerializeToString())
    return exports


def test_child_spans_arriving_after_their_root_update_the_run(client, agent, agent_key, deployed_version):
    """Issue 16, loose end: a batch processor may export a run's root before some of its children;
    the late tool and chat spans count in the run (tool calls, tools, tokens, cost, violations)."""
    message = recorded(tools=("tickets.read", "payments.refund"))
    early, late = _split(message, lambda span: span.name.startswith("chat") or "payments.refund" in span.name)
    assert _post(client, early, agent_key).status_code == 200
    run = Run.objects.get(agent=agent)
    assert (run.tool_calls, run.tools_used, run.input_tokens) == (1, ["tickets.read"], 0)
    assert not ComplianceViolation.objects.filter(kind=ViolationKind.UNGRANTED_TOOL).exists()

    assert _post(client, late, agent_key).status_code == 200
    run.refresh_from_db()
    assert run.tool_calls == 2 and sorted(run.tools_used) == ["payments.refund", "tickets.read"]
    assert (run.input_tokens, run.output_tokens, str(run.cost_usd)) == (320, 80, "0.004000")
    violation = ComplianceViolation.objects.get(agent=agent, kind=ViolationKind.UNGRANTED_TOOL)
    assert "payments.refund" in violation.detail
    assert Run.objects.filter(agent=agent).count() == 1
    assert Span.objects.filter(agent_id=agent.pk, trace_id=run.trace_id).count() == len(
        message.resource_spans[0].scope_spans[0].spans
    )


def test_children_exported_before_their_root_count_in_its_run(client, agent, agent_key, deployed_version):
    """Children end, and are exported, before their root: the root's export reads them back from
    the span table (tools, tokens and cost from their stored, JSON-valued attributes)."""
    message = recorded(tools=("tickets.read",))
    children, root = _split(message, lambda span: span.name.startswith("invoke_agent"))
    assert _post(client, children, agent_key).status_code == 200
    assert not Run.objects.filter(agent=agent).exists()
    assert _post(client, root, agent_key).status_code == 200
    run = Run.objects.get(agent=agent)
    assert (run.tool_calls, run.tools_used) == (1, ["tickets.read"])
    assert (run.input_tokens, run.output_tokens, str(run.cost_usd)) == (320, 80, "0.004000")


@pytest.mark.parametrize("spans", [1_000, 12_800])
def test_the_stored_children_read_back_probes_the_trace_index_on_a_partition_never_analysed(agent, spans):
    """Issue 16: on a day partition autovacuum has not analysed yet, ``trace_id = ANY(…)`` made
    PostgreSQL scan the agent's (agent, start time) index over every span since the earliest root;
    on a small one that index tied with the trace index even per trace (it is gone, migration
    0016). The read-back probes the (agent, trace id) index per trace whatever the statistics say."""
    from datetime import timedelta

    from django.utils import timezone

    from telemetry import otlp

    day = timezone.now() + timedelta(days=3)  # a partition of its own, never analysed
    otlp.partitions_ensure(otlp.SPANS, day, day)
    table = otlp.SPANS.partition_name(otlp.SPANS.slice_start(day))
    start = day.replace(hour=1, minute=0, second=0, microsecond=0)
    records = [
        otlp_mapping.SpanRecord(
            f"{n // 8:032x}",
            f"{n:016x}",
            "",
            "chat gpt-4o",
            "chat",
            start + timedelta(milliseconds=n),
            start + timedelta(milliseconds=n + 5),
            0,
            "",
            "",
            {"gen_ai.request.model": "gpt-4o", "n": n},
            [],
        )  # fmt: skip
        for n in range(spans)
    ]
    otlp.spans_copy(otlp.span_rows(agent.pk, records, timezone.now()), table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        assert cursor.fetchone() in (None, (None, None))
        wanted = [f"{trace:032x}" for trace in range(spans // 8 - 64, spans // 8)]  # 64: the bench export's roots
        cursor.execute("EXPLAIN " + otlp.STORED_SPANS_SQL, [wanted, agent.pk, start])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using" in plan and "agent_id_trace_id" in plan and "start_time_idx" not in plan, plan
    stored = otlp._stored_spans(agent, {wanted[0], wanted[-1]}, start)
    first, last = (spans // 8 - 64) * 8, spans - 8
    assert sorted(s.span_id for s in stored) == [f"{n:016x}" for n in [*range(first, first + 8), *range(last, spans)]]
    assert stored[0].attributes["gen_ai.request.model"] == "gpt-4o"


def test_json_valued_attributes_keep_integers_past_64_bits_exact_and_card_numbers_masked(
    client, agent, agent_key, deployed_version
):
    """Tool arguments are parsed with orjson, which reads an integer past 64 bits as a float (digits
    lost, a card number no longer masked): such documents go through the standard parser."""
    arguments = {"n": 123456789012345678901234567890, "paid_with": 9500000000000000018, "also": 4111111111111111}
    assert _post(client, recorded(tool_arguments=arguments).SerializeToString(), agent_key).status_code == 200
    tool = Span.objects.get(agent_id=agent.pk, operation="execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == {
        "n": 123456789012345678901234567890,
        "paid_with": "***************0018",
        "also": "************1111",
    }


def test_not_a_number_is_stored_as_null_in_a_double_and_as_sent_in_a_json_text(
    client, agent, agent_key, deployed_version
):
    """jsonb refuses NaN: a NaN double attribute is stored as null, and a JSON-valued attribute
    holding NaN (not JSON) is kept as the string sent. Both once failed the whole export."""
    message = recorded(root_attributes={"quorum.test.ratio": float("nan")}, tool_arguments={"x": float("nan")})
    response = _post(client, message.SerializeToString(), agent_key)
    assert response.status_code == 200 and not _answer(response).HasField("partial_success")
    root = Span.objects.get(agent_id=agent.pk, operation="invoke_agent")
    assert "quorum.test.ratio" in root.attributes and root.attributes["quorum.test.ratio"] is None
    tool = Span.objects.get(agent_id=agent.pk, operation="execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"x": NaN}'
    assert Run.objects.filter(agent=agent).count() == 1


def test_an_address_locked_out_for_failed_keys_is_refused_even_with_a_known_agent_key(
    client, agent, agent_key, deployed_version, settings
):
    """The receiver reads the failure count once per export: for a key whose prefix it knows as an
    agent's, in the agent key check; for any other key, before it reads the discovery keys."""
    import time

    from django.test import Client

    settings.QUORUM_TOKEN_FAILURES_PER_MINUTE = 2
    body = recorded(tools=("tickets.read",)).SerializeToString()
    left = 60 - time.time() % 60  # failures are counted per clock minute: keep the burst in one
    if left < 10:
        time.sleep(left + 0.1)
    assert _post(client, body, agent_key).status_code == 200  # the prefix is now known as an agent's
    guesser = Client(REMOTE_ADDR="203.0.113.77")
    for _ in range(2):
        assert _post(guesser, body, "qk_guess.wrong").status_code == 401
    assert _post(guesser, body, "qk_guess.wrong").status_code == 429
    refused = _post(guesser, body, agent_key)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert _post(client, body, agent_key).status_code == 200  # another address is not affected


def test_a_stored_span_holds_what_was_sent_column_by_column(client, agent, agent_key, deployed_version):
    """Spans go into PostgreSQL by binary COPY (times and integers in their binary forms, the
    jsonb columns from the JSON already encoded): every column reads back as sent, to the
    microsecond, non-ASCII text and events included."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    message = recorded(root_attributes={"quorum.test.note": "café ☕ naïve"})
    spans = list(message.resource_spans[0].scope_spans[0].spans)
    tool = next(s for s in spans if s.name.startswith("execute_tool"))
    tool.status.code, tool.status.message = 2, "timeout über 30 s"
    event = tool.events.add(name="retry", time_unix_nano=tool.start_time_unix_nano + 1_234_567)
    event.attributes.append(KeyValue(key="attempt", value=AnyValue(int_value=2)))
    response = _post(client, message.SerializeToString(), agent_key)
    assert response.status_code == 200, response.content
    stored = {s.span_id: s for s in Span.objects.filter(agent_id=agent.pk)}
    assert len(stored) == len(spans)
    for sent in spans:
        row = stored[sent.span_id.hex()]
        assert row.trace_id == sent.trace_id.hex() and row.parent_span_id == sent.parent_span_id.hex()
        assert row.start_time == otlp_mapping.nanos_to_datetime(sent.start_time_unix_nano)
        assert row.end_time == otlp_mapping.nanos_to_datetime(sent.end_time_unix_nano)
        assert row.duration_us == (sent.end_time_unix_nano // 1000 - sent.start_time_unix_nano // 1000)
        assert row.name == sent.name and row.service_name == "support-triage"
        assert row.received_at is not None
    row = stored[tool.span_id.hex()]
    assert (row.status_code, row.status_message) == (2, "timeout über 30 s")
    assert row.events == [{"name": "retry", "offset_us": 1234, "attributes": {"attempt": 2}}]
    root = next(s for s in stored.values() if s.operation == "invoke_agent")
    assert root.attributes["quorum.test.note"] == "café ☕ naïve" and root.events == []
