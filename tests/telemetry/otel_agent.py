"""A small agent loop instrumented with the real OpenTelemetry SDK, emitting GenAI spans the way
instrumentation libraries do (``invoke_agent`` → ``chat`` → ``execute_tool`` … → ``chat``), and
the exporters the tests point at Quorum: the SDK's own OTLP/HTTP protobuf exporter, and a JSON
one (the SDK ships no OTLP/JSON exporter: this one encodes with the SDK's encoder and posts the
protobuf JSON mapping with hex ids, as the OTLP specification says)."""

from __future__ import annotations

import base64
import json

import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

CURRENT = {
    "provider": "gen_ai.provider.name",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "input_messages": "gen_ai.input.messages",
    "output_messages": "gen_ai.output.messages",
    "tool_arguments": "gen_ai.tool.call.arguments",
    "tool_result": "gen_ai.tool.call.result",
}


def provider_with(exporter, service_name: str = "support-triage", *, batch: bool = False) -> TracerProvider:
    """A tracer provider exporting to ``exporter``: each span as it ends, or in batches of up to
    512 spans as the SDK's batch processor sends them in production."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": "1.1"}))
    processor = BatchSpanProcessor(exporter, max_export_batch_size=512) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def agent_loop(
    tracer,
    *,
    agent_name: str = "support-triage",
    version: str = "1.1",
    model: str = "gpt-4o",
    tools: tuple[str, ...] = ("tickets.read",),
    names: dict | None = None,
    tool_arguments: dict | None = None,
    error: bool = False,
    root_attributes: dict | None = None,
) -> str:
    """One run: a model call, one call per tool, a final model call. Returns the trace id (hex)."""
    names = {**CURRENT, **(names or {})}
    with tracer.start_as_current_span(
        f"invoke_agent {agent_name}",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent_name,
            "gen_ai.agent.version": version,
            names["provider"]: "openai",
            "gen_ai.request.model": model,
            **(root_attributes or {}),
        },
    ) as root:
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                names["input_tokens"]: 120,
                names["output_tokens"]: 30,
                "gen_ai.usage.cost": 0.0015,
                names["input_messages"]: json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "Where is order 42?"}]}]
                ),
                "gen_ai.retrieval.documents": json.dumps([{"id": "kb-7", "score": 0.82}]),
            },
        ):
            pass
        for tool in tools:
            with tracer.start_as_current_span(
                f"execute_tool {tool}",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool,
                    names["tool_arguments"]: json.dumps(
                        tool_arguments or {"order_id": 42, "email": "jane@example.test"}
                    ),
                    names["tool_result"]: json.dumps({"status": "shipped", "note": "paid with 4111 1111 1111 1111"}),
                },
            ):
                pass
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                names["input_tokens"]: 200,
                names["output_tokens"]: 50,
                "gen_ai.usage.cost": 0.0025,
                names["output_messages"]: json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Order 42 has shipped."}]}]
                ),
            },
        ):
            pass
        if error:
            root.set_status(Status(StatusCode.ERROR, "tool outage"))
        return format(root.get_span_context().trace_id, "032x")


def recorded(**loop_kwargs):
    """Run the loop once under an in-memory exporter; return the encoded ExportTraceServiceRequest."""
    memory = InMemorySpanExporter()
    provider = provider_with(memory, service_name=loop_kwargs.pop("service_name", "support-triage"))
    agent_loop(provider.get_tracer("test-agent"), **loop_kwargs)
    provider.shutdown()
    return encode_spans(memory.get_finished_spans())


def to_otlp_json(message) -> bytes:
    """The protobuf JSON mapping of a message, with OTLP's hex trace and span ids."""
    document = json_format.MessageToDict(message)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


class OTLPJSONSpanExporter(SpanExporter):
    """OTLP/HTTP with the JSON encoding (the SDK's encoder, posted as ``application/json``)."""

    def __init__(self, endpoint: str, headers: dict):
        self.endpoint = endpoint
        self.headers = {**headers, "Content-Type": "application/json"}
        self.responses: list[requests.Response] = []

    def export(self, spans):
        response = requests.post(
            self.endpoint, data=to_otlp_json(encode_spans(spans)), headers=self.headers, timeout=10
        )
        self.responses.append(response)
        return SpanExportResult.SUCCESS if response.ok else SpanExportResult.FAILURE

    def shutdown(self):
        return None
