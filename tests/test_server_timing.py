"""Every answer says how long the server spent on it (``Server-Timing: app;dur=<ms>``), the figure
the action gate's latency goal is measured on (``bench/gate.py``)."""

from __future__ import annotations

import pytest

from bench.gate import server_timing_ms

pytestmark = pytest.mark.django_db


def _duration(response) -> float:
    header = response.headers["Server-Timing"]
    assert header.startswith("app;dur=")
    return server_timing_ms(header)


def test_an_agent_api_answer_carries_the_server_time(agent_client):
    response = agent_client.get("/api/v1/agent/whoami/")
    assert response.status_code == 200
    assert 0 < _duration(response) < 60_000


def test_a_console_page_an_error_and_a_refusal_carry_it_too(client, board_user):
    client.force_login(board_user)
    assert _duration(client.get("/agents/")) > 0
    assert _duration(client.get("/no-such-page/")) > 0
    client.logout()
    assert client.get("/api/v1/agent/whoami/").status_code == 401
    assert _duration(client.get("/api/v1/agent/whoami/")) > 0


def test_the_bench_reads_the_app_duration_and_refuses_a_header_without_it():
    assert server_timing_ms("db;dur=1.5, app;dur=3.21") == pytest.approx(3.21)
    with pytest.raises(RuntimeError):
        server_timing_ms("db;dur=1.5")
