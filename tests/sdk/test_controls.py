"""Controls with ETag caching, and ``side_effects_enabled()`` failing closed: the kill switch is
seen within one staleness period, and an unreachable Quorum turns side effects off once the last
confirmed answer is older than the staleness."""

from __future__ import annotations

import time

import pytest

from .proxy import Proxy

STALENESS = 3.0  # seconds; generous for a loaded test machine


def wait_for(check, *, within: float) -> float:
    """Seconds until ``check()`` is true; fails after ``within``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started <= within, f"not within {within}s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_etag_kill_switch_within_one_staleness_period_and_fail_closed(live_server, agent, agent_key, operator_user):
    from quorum_sdk import QuorumClient

    from incidents.services import kill_switch_pull

    with Proxy(live_server.url) as proxy:
        client = QuorumClient(proxy.url, agent_key, controls_max_staleness=STALENESS, controls_refresh_interval=0.1)
        first = client.controls()
        second = client.controls()
        assert proxy.statuses("/api/v1/controls/") == [200, 304]  # If-None-Match answered by an empty 304
        assert proxy.seen[1].headers["If-None-Match"] == first.etag == second.etag
        assert second.data == first.data and second.confirmed_at > first.confirmed_at
        assert client.side_effects_enabled() is True

        # The kill switch, pulled in the console, is seen within one staleness period.
        kill_switch_pull(agent=agent, actor=operator_user, reason="refunds look wrong")
        assert wait_for(lambda: client.side_effects_enabled() is False, within=STALENESS) <= STALENESS
        assert client.controls(refresh=False).data["agent_side_effects_enabled"] is False

        from registry.services import agent_controls_update

        agent_controls_update(agent_id=agent.pk, side_effects_enabled=True)
        wait_for(lambda: client.side_effects_enabled() is True, within=STALENESS)

        # Quorum unreachable: the last answer holds until it is older than the staleness, then off.
        proxy.down()
        assert client.side_effects_enabled() is True  # confirmed moments ago
        confirmed = client.controls(refresh=False).confirmed_at
        wait_for(lambda: client.side_effects_enabled() is False, within=STALENESS + 1)
        assert time.monotonic() - confirmed >= STALENESS  # not before the last answer went stale
        client.close()

    # Never reached at all: closed from the start, and no exception.
    never = QuorumClient("http://127.0.0.1:9", agent_key, timeout=0.5)
    assert never.side_effects_enabled() is False
    never.close()
