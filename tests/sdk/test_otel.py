"""The OpenTelemetry span processor stamps the agent's version digest on every span, taken from
the controls of a live Quorum (the deployed version) or given."""

from __future__ import annotations

import pytest


@pytest.mark.django_db(transaction=True)
def test_every_span_carries_the_deployed_versions_digest(live_server, agent, agent_key, gate_ready):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from quorum_sdk import QuorumClient
    from quorum_sdk.otel import BUNDLE_DIGEST_ATTRIBUTE, VERSION_LABEL_ATTRIBUTE, VersionDigestSpanProcessor

    from registry.models import AgentVersion

    deployed = AgentVersion.objects.get(agent=agent, state="deployed")
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    with QuorumClient(live_server.url, agent_key) as client:
        provider.add_span_processor(VersionDigestSpanProcessor(client=client))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("agent")
    with tracer.start_as_current_span("invoke_agent support"), tracer.start_as_current_span("execute_tool refund"):
        pass
    spans = exported.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes[BUNDLE_DIGEST_ATTRIBUTE] == deployed.bundle_digest
        assert span.attributes[VERSION_LABEL_ATTRIBUTE] == deployed.label
    provider.shutdown()


def test_a_given_digest_is_used_and_one_is_required():
    from quorum_sdk.otel import VersionDigestSpanProcessor

    assert VersionDigestSpanProcessor("ab" * 32).digest == "ab" * 32
    with pytest.raises(ValueError, match="digest"):
        VersionDigestSpanProcessor()
