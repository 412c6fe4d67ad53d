"""Every rule and limit of the run contract: one test each, and the error names the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.models import Run
from telemetry.schemas import MAX_BATCH_ITEMS, MAX_METADATA_BYTES

pytestmark = pytest.mark.django_db


def _iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


CASES = [
    # (id, overrides, field, code)
    ("run_id missing", {"run_id": ...}, "run_id", "required"),
    ("run_id empty", {"run_id": ""}, "run_id", "min_length"),
    ("run_id too long", {"run_id": "r" * 129}, "run_id", "max_length"),
    ("run_id bad characters", {"run_id": "run id with spaces"}, "run_id", "invalid_format"),
    ("version_label missing", {"version_label": ...}, "version_label", "required"),
    ("version_label too long", {"version_label": "1" * 41}, "version_label", "max_length"),
    ("version_label bad characters", {"version_label": "1.0 beta"}, "version_label", "invalid_format"),
    ("bundle_digest not sha256", {"bundle_digest": "abc"}, "bundle_digest", "invalid_format"),
    ("model too long", {"model": "m" * 121}, "model", "max_length"),
    ("channel too long", {"channel": "c" * 21}, "channel", "max_length"),
    ("channel bad characters", {"channel": "Chat!"}, "channel", "invalid_format"),
    ("started_at missing", {"started_at": ...}, "started_at", "required"),
    ("started_at without zone", {"started_at": "2026-11-20T09:00:00"}, "started_at", "timezone_required"),
    ("ended_at without zone", {"ended_at": "2026-11-20T09:00:00"}, "ended_at", "timezone_required"),
    ("started_at not a date", {"started_at": "yesterday"}, "started_at", "invalid_datetime"),
    ("started_at a number", {"started_at": 1763629200}, "started_at", "invalid"),
    (
        "started_at in the future",
        {"started_at": "2999-01-01T00:00:00Z", "ended_at": "2999-01-01T00:00:01Z"},
        "started_at",
        "invalid",
    ),
    (
        "started_at too old",
        {"started_at": "2001-01-01T00:00:00Z", "ended_at": "2001-01-01T00:00:01Z"},
        "started_at",
        "invalid",
    ),
    ("ended before started", {"ended_at": "2001-01-01T00:00:00Z"}, "ended_at", "ended_before_started"),
    ("run longer than a day", {"started_at": "now-30h", "ended_at": "now-1h"}, "ended_at", "run_too_long"),
    ("latency negative", {"latency_ms": -2}, "latency_ms", "min_value"),
    ("latency too big", {"latency_ms": 86_400_001}, "latency_ms", "max_value"),
    ("status unknown", {"status": "crashed"}, "status", "invalid_choice"),
    ("outcome missing", {"outcome": ...}, "outcome", "required"),
    ("outcome unknown", {"outcome": "great"}, "outcome", "invalid_choice"),
    ("reason unknown", {"outcome": "failed", "reason": "gremlins"}, "reason", "invalid_choice"),
    ("reason required for escalations", {"outcome": "escalated"}, "reason", "required"),
    ("input_tokens negative", {"input_tokens": -1}, "input_tokens", "min_value"),
    ("input_tokens too big", {"input_tokens": 100_000_001}, "input_tokens", "max_value"),
    ("output_tokens not an integer", {"output_tokens": "many"}, "output_tokens", "invalid_integer"),
    ("cost negative", {"cost_usd": "-0.01"}, "cost_usd", "min_value"),
    ("cost not a number", {"cost_usd": "ten"}, "cost_usd", "invalid_decimal"),
    ("cost more than 6 decimals", {"cost_usd": "0.0000001"}, "cost_usd", "max_decimal_places"),
    ("cost too big", {"cost_usd": "1000000"}, "cost_usd", "max_digits"),
    ("tool_calls too big", {"tool_calls": 100_001}, "tool_calls", "max_value"),
    ("tools_used not a list", {"tools_used": "tickets.read"}, "tools_used", "invalid_type"),
    ("tools_used bad name", {"tools_used": ["Tickets Read"]}, "tools_used[0]", "invalid_format"),
    ("tools_used repeated", {"tools_used": ["tickets.read", "tickets.read"]}, "tools_used", "invalid"),
    ("tools_used too many", {"tools_used": [f"t.tool_{i}" for i in range(101)]}, "tools_used", "max_items"),
    ("policy_blocks negative", {"policy_blocks": -1}, "policy_blocks", "min_value"),
    ("human_minutes negative", {"human_minutes": "-1"}, "human_minutes", "min_value"),
    ("human_minutes 3 decimals", {"human_minutes": "1.005"}, "human_minutes", "max_decimal_places"),
    ("trace_id too long", {"trace_id": "t" * 129}, "trace_id", "max_length"),
    ("trace_id with spaces", {"trace_id": "a b"}, "trace_id", "invalid_format"),
    ("metadata not an object", {"metadata": ["a"]}, "metadata", "invalid_type"),
    ("metadata too big", {"metadata": {"blob": "x" * MAX_METADATA_BYTES}}, "metadata", "invalid"),
    ("metadata too deep", {"metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "metadata", "invalid"),
    ("metadata key too long", {"metadata": {"k" * 65: 1}}, "metadata", "invalid"),
    ("unknown field", {"colour": "blue"}, "colour", "unknown_field"),
]


def _apply(payload: dict) -> dict:
    for key in ("started_at", "ended_at"):
        value = payload.get(key)
        if isinstance(value, str) and value.startswith("now-"):
            payload[key] = _iso(-timedelta(hours=int(value[4:-1])))
    return payload


@pytest.mark.parametrize(("overrides", "field", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_refuses_each_invalid_field_naming_it(agent_client, run_payload, agent, overrides, field, code):
    payload = _apply(run_payload(**overrides))
    response = agent_client.post("/api/v1/runs/", payload, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in errors], errors
    assert all(field in e["message"] or e["field"] == field for e in errors)
    assert not Run.objects.filter(agent=agent).exists()


def test_it_names_the_item_and_field_in_a_batch(agent_client, run_payload, agent):
    runs = [run_payload(run_id="ok-1"), run_payload(run_id="bad", cost_usd="-1"), run_payload(run_id="ok-2")]
    body = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json").json()
    assert body["results"][1]["errors"][0]["field"] == "runs[1].cost_usd"
    assert sorted(Run.objects.filter(agent=agent).values_list("run_id", flat=True)) == ["ok-1", "ok-2"]


def test_it_keeps_a_cost_sent_as_a_json_number_exact(agent_client, agent, deployed_version):
    started, ended = _iso(-timedelta(minutes=2)), _iso(-timedelta(minutes=1))
    body = (
        f'{{"run_id": "n1", "version_label": "1.1", "started_at": "{started}", "ended_at": "{ended}", '
        '"outcome": "resolved", "cost_usd": 0.123456, "human_minutes": 1.25}'
    )
    response = agent_client.post("/api/v1/runs/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(agent=agent, run_id="n1")
    assert str(run.cost_usd) == "0.123456"
    assert str(run.human_minutes) == "1.25"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ([], None, "invalid_type"),
        ({}, "runs", "required"),
        ({"runs": "x"}, "runs", "invalid_type"),
        ({"runs": []}, "runs", "min_items"),
        ({"runs": [{}] * (MAX_BATCH_ITEMS + 1)}, "runs", "max_items"),
        ({"runs": [], "extra": 1}, "extra", "unknown_field"),
    ],
    ids=["not an object", "no runs", "runs not a list", "empty", "more than 1000", "unknown envelope field"],
)
def test_it_refuses_a_bad_batch_envelope(agent_client, agent, body, field, code):
    response = agent_client.post("/api/v1/runs/batch/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] | {"message": ""} == {"code": code, "field": field, "message": ""}
    assert not Run.objects.exists()


def test_it_refuses_a_body_over_5_mib_with_413(agent_client, run_payload):
    big = {"runs": [run_payload(metadata={"pad": "x" * 10_000}) for _ in range(600)]}
    response = agent_client.post("/api/v1/runs/batch/", big, format="json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "body_too_large"
    assert not Run.objects.exists()


def test_it_refuses_malformed_json(agent_client):
    response = agent_client.post("/api/v1/runs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


def test_it_stores_a_batch_of_1000(agent_client, run_payload, agent):
    runs = [run_payload() for _ in range(MAX_BATCH_ITEMS)]
    response = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == MAX_BATCH_ITEMS
    assert Run.objects.filter(agent=agent).count() == MAX_BATCH_ITEMS
