"""An OpenTelemetry span processor that stamps the agent's version on every span.

Needs the ``otel`` extra (``pip install "quorum-sdk[otel]"``). Quorum's OTLP receiver reads
``quorum.agent.bundle_digest`` to tie each span to the approved version that produced it,
exactly as ``bundle_digest`` does for a REST run summary::

    provider = TracerProvider()
    provider.add_span_processor(VersionDigestSpanProcessor(client=quorum))   # digest from controls
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(...)))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

if TYPE_CHECKING:
    from .client import QuorumClient

__all__ = ["BUNDLE_DIGEST_ATTRIBUTE", "VERSION_LABEL_ATTRIBUTE", "VersionDigestSpanProcessor"]

BUNDLE_DIGEST_ATTRIBUTE = "quorum.agent.bundle_digest"
VERSION_LABEL_ATTRIBUTE = "gen_ai.agent.version"


class VersionDigestSpanProcessor(SpanProcessor):
    """Adds the version's bundle digest (and label, when known) to every span as it starts.

    Give the ``digest`` (and ``version_label``) the agent was built from, or a ``client``: the
    deployed version of its controls is used, read once when the processor is made (the
    agent process runs one version; a new deployment is a new process)."""

    def __init__(
        self, digest: str | None = None, *, version_label: str | None = None, client: QuorumClient | None = None
    ) -> None:
        if digest is None and client is not None:
            controls = client.controls(refresh=False)
            digest = controls.bundle_digest
            version_label = version_label or controls.version_label
        if not digest:
            raise ValueError(
                "VersionDigestSpanProcessor needs a digest, or a client whose agent has a deployed version."
            )
        self.digest = digest
        self.version_label = version_label

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute(BUNDLE_DIGEST_ATTRIBUTE, self.digest)
        if self.version_label:
            span.set_attribute(VERSION_LABEL_ATTRIBUTE, self.version_label)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
