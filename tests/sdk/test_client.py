"""The SDK's client against a live Quorum: retries with backoff on 503/429 (honouring
Retry-After), the same idempotency key on every retry, errors that are not retried.

Live-server tests are few and each covers several cases: every transactional test pays a
database flush and re-seed."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from .proxy import Proxy

NOWHERE = "http://127.0.0.1:9"  # the scripted proxy answers; nothing is forwarded


def run_summary(run_id: str, **extra) -> dict:
    now = datetime.now(UTC).isoformat()
    return {
        "run_id": run_id,
        "version_label": "1.0",
        "started_at": now,
        "ended_at": now,
        "outcome": "resolved",
        **extra,
    }


def client_through(proxy, agent_key, **options):
    from quorum_sdk import QuorumClient, RetryPolicy

    retry = options.pop("retry", RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=5))
    return QuorumClient(proxy.url, agent_key, timeout=30, retry=retry, **options)


@pytest.mark.django_db(transaction=True)
def test_retries_idempotency_and_errors_against_a_live_quorum(live_server, agent, agent_key, gate_ready, settings):
    """GIVEN Quorum answers 503 then 429 (Retry-After: 1) WHEN the agent sends a run THEN the
    SDK waits at least the second asked, retries with the same Idempotency-Key, and the run is
    stored once; an action asked twice with one key is stored once; a 400 names the field and
    is not retried; Quorum's own rate limit answers a real 429 the client reports."""
    from quorum_sdk import QuorumAPIError, QuorumClient, QuorumUnavailable, RetryPolicy

    from actions.models import ActionRequest
    from telemetry.models import Run

    script = [(503, {}), (429, {"Retry-After": "1"})]
    with Proxy(live_server.url, script) as proxy, client_through(proxy, agent_key) as client:
        started = time.monotonic()
        answer = client.send_run(run_summary("retry-1"))
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
        assert answer["result"] == "created"
        assert proxy.statuses() == [503, 429, 201]
        assert proxy.seen[2].at - proxy.seen[1].at >= 1.0
        # A run's idempotency key is its run_id, the same on every retry.
        assert {seen.headers["Idempotency-Key"] for seen in proxy.seen} == {"retry-1"}
        assert Run.objects.filter(agent=agent, run_id="retry-1").count() == 1

        # The same action asked again with its key (an answer lost on the way) is stored once.
        params = {"amount_usd": 10, "customer_tier": "pro"}
        first = client.request_action("payments.refund", params, idempotency_key="k1")
        again = client.request_action("payments.refund", params, idempotency_key="k1")
        assert first["id"] == again["id"] and again["status"] == "allowed"
        assert proxy.statuses("/api/v1/action-requests/") == [201, 200]
        assert ActionRequest.objects.filter(agent=agent).count() == 1

        # Bad input: a 400 naming the field, sent once.
        before = len(proxy.seen)
        with pytest.raises(QuorumAPIError) as raised:
            client.send_run(run_summary("bad-1", outcome="escalated"))
        assert (raised.value.status_code, raised.value.errors[0]["field"]) == (400, "reason")
        assert proxy.statuses()[before:] == [400]

    with QuorumClient(live_server.url, "not-a-key") as stranger, pytest.raises(QuorumAPIError) as raised:
        stranger.whoami()
    assert raised.value.status_code == 401

    # Quorum's own per-agent limit (no proxy): over it, a real 429 with Retry-After up to the end
    # of the minute window; a client accepting no wait gives up at once with the server's figure.
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 0
    with (
        QuorumClient(live_server.url, agent_key, retry=RetryPolicy(max_retry_after=0)) as client,
        pytest.raises(QuorumUnavailable) as raised,
    ):
        client.send_run(run_summary("limit-1"))
    assert raised.value.status_code == 429
    assert 1 <= raised.value.retry_after <= 60


def test_backoff_gives_up_after_the_last_attempt():
    from quorum_sdk import QuorumUnavailable

    with (
        Proxy(NOWHERE, [(503, {})] * 10) as proxy,
        client_through(proxy, "k") as client,
        pytest.raises(QuorumUnavailable) as raised,
    ):
        client.whoami()
    assert raised.value.status_code == 503
    assert proxy.statuses() == [503, 503, 503, 503]


def test_a_retry_after_longer_than_the_client_accepts_fails_at_once():
    from quorum_sdk import QuorumUnavailable

    with Proxy(NOWHERE, [(429, {"Retry-After": "120"})]) as proxy, client_through(proxy, "k") as client:
        started = time.monotonic()
        with pytest.raises(QuorumUnavailable) as raised:
            client.whoami()
    assert time.monotonic() - started < 1
    assert (raised.value.status_code, raised.value.retry_after) == (429, 120.0)


def test_an_unreachable_quorum_is_retried_then_reported():
    from quorum_sdk import QuorumClient, QuorumUnavailable, RetryPolicy

    with (
        QuorumClient(NOWHERE, "k", retry=RetryPolicy(max_attempts=3, base_delay=0.01)) as client,
        pytest.raises(QuorumUnavailable, match="ConnectError"),
    ):
        client.whoami()


def test_backoff_is_exponential_with_full_jitter_and_reads_http_dates():
    from email.utils import format_datetime

    from quorum_sdk import RetryPolicy
    from quorum_sdk.retry import parse_retry_after

    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (6, 1.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert min(waits) >= 0 and max(waits) <= ceiling and len(set(waits)) > 100
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    in_a_minute = format_datetime(datetime.fromtimestamp(time.time() + 60, UTC), usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 60


def test_the_client_needs_an_address_and_a_key(monkeypatch):
    from quorum_sdk import QuorumClient

    monkeypatch.delenv("QUORUM_URL", raising=False)
    monkeypatch.delenv("QUORUM_AGENT_KEY", raising=False)
    with pytest.raises(ValueError, match="QUORUM_URL"):
        QuorumClient()
