"""The OpenTelemetry span processor stamps the agent's version digest on every span, taken from
Quorum's controls (the deployed version) or given.

Quorum answers in process here (the real application through ``httpx.WSGITransport``, inside the
test's transaction): no live server, so no database flush and re-seed for a check that needs one
GET. The SDK's acceptance items run against the live server in the other modules."""

from __future__ import annotations

import pytest

from tests.actions.conftest import grant_deployed
from tests.factories import ToolFactory


@pytest.mark.django_db
def test_every_span_carries_the_deployed_versions_digest(agent, agent_key):
    import httpx
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from quorum_sdk import QuorumClient
    from quorum_sdk.otel import BUNDLE_DIGEST_ATTRIBUTE, VERSION_LABEL_ATTRIBUTE, VersionDigestSpanProcessor

    deployed = grant_deployed(agent, ToolFactory(name="payments.refund", action_tier=3))
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    transport = httpx.WSGITransport(app=get_wsgi_application())
    # As Django's test client does: a request must not close the connection holding the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with QuorumClient("http://testserver", agent_key, transport=transport) as client:
            provider.add_span_processor(VersionDigestSpanProcessor(client=client))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
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
