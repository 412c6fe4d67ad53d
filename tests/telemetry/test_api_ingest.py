from __future__ import annotations

from decimal import Decimal

import pytest

from telemetry.models import Run

pytestmark = pytest.mark.django_db


def test_it_stores_a_run_and_answers_created(agent_client, run_payload, agent, deployed_version):
    response = agent_client.post("/api/v1/runs/", run_payload(run_id="r-1"), format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"index": 0, "result": "created", "run_id": "r-1"}
    run = Run.objects.get(agent=agent, run_id="r-1")
    assert run.version == deployed_version
    assert run.cost_usd == Decimal("0.012300")
    assert run.latency_ms == 42000
    assert run.tools_used == ["tickets.read"]


def test_it_answers_duplicate_on_replay_and_stores_nothing(agent_client, run_payload, agent):
    payload = run_payload(run_id="r-1")
    assert agent_client.post("/api/v1/runs/", payload, format="json").status_code == 201
    replay = agent_client.post("/api/v1/runs/", {**payload, "cost_usd": "9"}, format="json")
    assert replay.status_code == 200
    assert replay.json()["result"] == "duplicate"
    assert Run.objects.filter(agent=agent).count() == 1
    assert Run.objects.get(agent=agent).cost_usd == Decimal("0.012300")


def test_it_answers_a_batch_per_item(agent_client, run_payload, agent):
    runs = [run_payload(run_id="a"), run_payload(run_id="b", ended_at="2000-01-01T00:00:00Z"), run_payload(run_id="a")]
    response = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["invalid"]) == (1, 1, 1)
    assert [r["result"] for r in body["results"]] == ["created", "invalid", "duplicate"]
    assert body["results"][1]["errors"][0]["field"] == "runs[1].ended_at"
    assert list(Run.objects.filter(agent=agent).values_list("run_id", flat=True)) == ["a"]


def test_a_shadow_run_is_stored_as_shadow_and_a_run_is_production_by_default(agent_client, run_payload, agent):
    assert agent_client.post("/api/v1/runs/", run_payload(run_id="s", shadow=True), format="json").status_code == 201
    assert agent_client.post("/api/v1/runs/", run_payload(run_id="p"), format="json").status_code == 201
    assert dict(Run.objects.filter(agent=agent).values_list("run_id", "shadow")) == {"s": True, "p": False}


def test_a_shadow_flag_that_is_not_a_json_boolean_is_refused_and_stores_nothing(agent_client, run_payload, agent):
    response = agent_client.post("/api/v1/runs/", run_payload(run_id="s", shadow="yes"), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "shadow"
    assert not Run.objects.filter(agent=agent).exists()
