"""A small agent loop instrumented with the real OpenTelemetry SDK, exporting over HTTP to a live
Quorum: the SDK's own OTLP protobuf exporter (batch processor, gzip) and OTLP/JSON (each span as it
ends, so a run's children arrive before its root). Runs, tool calls, tokens, cost, a violation
raised from a span, the trace tree on the run page and in an incident's replay."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from incidents import services as incident_services
from incidents.choices import DetectionSource, FailureMode, Severity
from telemetry.choices import ViolationKind
from telemetry.models import ComplianceViolation, Run
from tests.telemetry.otel_agent import OTLPJSONSpanExporter, agent_loop, provider_with

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _spans_cleared():
    """The span table is unmanaged (partitioned), so the test database's flush leaves it alone."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_span")


def test_sdk_exports_protobuf_and_json_to_a_live_server(
    live_server, agent, agent_key, deployed_version, client, owner_user, operator_user
):
    headers = {"Authorization": f"Bearer {agent_key}"}
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers=headers, compression=Compression.Gzip, timeout=10
    )
    provider = provider_with(exporter, batch=True)
    tracer = provider.get_tracer("support-agent")
    granted_trace = agent_loop(tracer, tools=("tickets.read", "tickets.reply"))
    ungranted_trace = agent_loop(tracer, tools=("payments.refund",), error=True)
    assert provider.force_flush(10_000)
    provider.shutdown()

    json_exporter = OTLPJSONSpanExporter(f"{live_server.url}/api/v1/otlp/v1/traces", headers)
    json_provider = provider_with(json_exporter)
    json_trace = agent_loop(json_provider.get_tracer("support-agent"), tools=("tickets.read",))
    json_provider.shutdown()
    assert [r.status_code for r in json_exporter.responses] == [200] * 4
    assert all(r.headers["Content-Type"] == "application/json" for r in json_exporter.responses)

    runs = {run.trace_id: run for run in Run.objects.filter(agent=agent)}
    assert set(runs) == {granted_trace, ungranted_trace, json_trace}
    granted = runs[granted_trace]
    assert granted.tools_used == ["tickets.read", "tickets.reply"] and granted.tool_calls == 2
    assert (granted.input_tokens, granted.output_tokens, granted.cost_usd) == (320, 80, Decimal("0.004"))
    assert granted.version == deployed_version and granted.outcome == "resolved"
    failed = runs[ungranted_trace]
    assert (failed.status, failed.outcome, failed.reason) == ("error", "failed", "other")
    violation = ComplianceViolation.objects.get(agent=agent)
    assert violation.kind == ViolationKind.UNGRANTED_TOOL and violation.first_run_id == failed.run_id
    # Children arrived first, one request each: the root still counts them.
    json_run = runs[json_trace]
    assert json_run.tool_calls == 1 and (json_run.input_tokens, json_run.output_tokens) == (320, 80)

    # The run page shows the whole trace as a tree with timings.
    client.force_login(owner_user)
    page = client.get(granted.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="trace-span"') == 5
    for seen in ("Where is order 42?", "kb-7", "tickets.reply", "shipped", "Order 42 has shipped.", "ms ·"):
        assert seen in html
    assert "jane@example.test" not in html

    # An incident's replay shows the full trace of a linked run.
    incident, _ = incident_services.incident_open_or_link(
        agent=agent,
        severity=Severity.SEV2,
        failure_mode=FailureMode.QUALITY_REGRESSION,
        title="Refund issued by an ungranted tool",
        detection_source=DetectionSource.MONITORING,
        opened_by=operator_user,
    )
    incident_services.incident_link_runs(incident_id=incident.pk, run_ids=[failed.run_id], actor=operator_user)
    client.force_login(operator_user)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert page.count('data-testid="trace-span"') == 4
    for seen in (
        "payments.refund",
        "Where is order 42?",
        "Order 42 has shipped.",
        "tool outage",
        failed.get_absolute_url(),
    ):
        assert seen in page
