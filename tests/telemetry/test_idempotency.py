"""A run is stored exactly once per (agent, run_id): replays, repeats in a batch, racing replays."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from telemetry.models import Run
from telemetry.services import runs_ingest


@pytest.mark.django_db
def test_it_stores_a_run_id_repeated_inside_a_batch_once(agent_client, run_payload, agent):
    runs = [run_payload(run_id="same", cost_usd="1"), run_payload(run_id="same", cost_usd="2")]
    body = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json").json()
    assert [r["result"] for r in body["results"]] == ["created", "duplicate"]
    assert Run.objects.filter(agent=agent, run_id="same").count() == 1
    assert str(Run.objects.get(agent=agent, run_id="same").cost_usd) == "1.000000"


@pytest.mark.django_db
def test_it_answers_duplicate_for_a_replayed_batch(agent_client, run_payload, agent):
    runs = [run_payload() for _ in range(5)]
    agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json")
    body = agent_client.post("/api/v1/runs/batch/", {"runs": runs}, format="json").json()
    assert (body["created"], body["duplicates"]) == (0, 5)
    assert Run.objects.filter(agent=agent).count() == 5


@pytest.mark.django_db
def test_the_same_run_id_is_fine_for_two_agents(run_payload, agent, deployed_version):
    from tests.factories import AgentFactory

    other = AgentFactory(slug="other-agent")
    payload = run_payload(run_id="shared")
    assert runs_ingest(agent=agent, items=[payload])[0].status == "created"
    assert runs_ingest(agent=other, items=[payload])[0].status == "created"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_replays_on_two_connections_make_exactly_one_row(run_payload, agent):
    """GIVEN two threads, each with its own database connection, holding the same run
    WHEN both ingest it at the same instant (the first keeps its transaction open a moment)
    THEN exactly one row exists and exactly one answer says created."""
    payload = run_payload(run_id="race-1")
    barrier = threading.Barrier(2)
    answers: list[str] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=10)
            [result] = runs_ingest(agent=agent, items=[payload])
            answers.append(result.status)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(answers) == ["created", "duplicate"]
    assert Run.objects.filter(agent=agent, run_id="race-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_replay_waits_for_an_uncommitted_first_insert_and_then_answers_duplicate(run_payload, agent):
    """The first connection inserts inside an open transaction; the replay on a second
    connection blocks on the unique index, then sees the commit and stores nothing."""
    from django.db import transaction

    payload = run_payload(run_id="race-2")
    second: list[str] = []
    started = threading.Event()

    def replay():
        started.set()
        second.append(runs_ingest(agent=agent, items=[payload])[0].status)
        connections.close_all()

    with transaction.atomic():
        assert runs_ingest(agent=agent, items=[payload])[0].status == "created"
        thread = threading.Thread(target=replay)
        thread.start()
        started.wait(5)
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the replay must wait for the first transaction"
    thread.join(timeout=30)
    assert second == ["duplicate"]
    assert Run.objects.filter(agent=agent, run_id="race-2").count() == 1
    assert connection.vendor == "postgresql"
