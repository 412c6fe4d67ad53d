"""Strict types in the run contract (issue 14, item 2): no booleans for numbers, integers where
integers are meant; JSON numbers and decimal strings still pass where the contract says so."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", True),
        ("input_tokens", True),
        ("tool_calls", False),
        ("input_tokens", 1.5),
        ("policy_blocks", "3"),
        ("cost_usd", True),
        ("human_minutes", False),
    ],
)
def test_run_numbers_are_strict(agent_client, run_payload, field, value):
    response = agent_client.post("/api/v1/runs/", data=run_payload(**{field: value}), format="json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"][0]["field"] == field


def test_whole_numbers_sent_as_integers_still_pass(agent_client, run_payload):
    response = agent_client.post(
        "/api/v1/runs/", data=run_payload(latency_ms=1200, input_tokens=5, cost_usd=0.5), format="json"
    )
    assert response.status_code == 201, response.content[:300]
