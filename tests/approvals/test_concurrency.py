"""Two approvers click at the same instant, on separate connections, 50 times over.

Real PostgreSQL, real threads, each with its own connection; a ``threading.Barrier`` releases
the clicks on each request together. The row lock makes them serialise: every request is
applied exactly once, with exactly two decisions, and the loser of a race reads "already decided"."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from approvals import services
from approvals.exceptions import DecisionRefused
from approvals.models import ApprovalRequest, Decision
from registry.models import Agent
from tests.approvals.conftest import make_approver
from tests.factories import AgentFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

N = 50


@pytest.fixture
def fifty_requests(reseeded):
    """50 agents with side effects off (the kill switch), each with a request to turn them back
    on: a kind that needs two approvers at every tier and bumps the controls revision once."""
    from registry import roles

    operator = UserFactory(username="op", roles=[roles.OPERATOR])
    team = TeamFactory(slug="race-team")
    requests = []
    for i in range(N):
        agent = AgentFactory(slug=f"race-{i}", owner_team=team, side_effects_enabled=False, risk_tier=3)
        requests.append(
            services.change_request_create(
                agent=agent, kind="reenable_side_effects", payload={}, requester=operator, justification="Mitigated."
            )
        )
    return requests


def _race(requests, clickers, click):
    """Each clicker runs in its own thread (own DB connection); for every request they wait at
    the barrier and then click together. Returns every outcome as (request id, user, outcome)."""
    barrier = threading.Barrier(len(clickers))
    outcomes: list[tuple[int, str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(user):
        try:
            for req in requests:
                barrier.wait(timeout=30)
                result = click(req, user)
                with lock:
                    outcomes.append((req.pk, user.username, result))
        except BaseException as exc:  # noqa: BLE001 - surfaced in the main thread below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in clickers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return outcomes


def _assert_applied_exactly_once(requests, revisions_before):
    for req in requests:
        req.refresh_from_db()
        assert req.status == "applied", (req.pk, req.status, req.blocked_reason)
        assert Decision.objects.filter(request=req).count() == 2
        agent = Agent.objects.get(pk=req.agent_id)
        assert agent.side_effects_enabled is True
        # agent_controls_update bumps the revision once per application: exactly one.
        assert agent.controls_revision == revisions_before[agent.pk] + 1


def test_fifty_requests_two_approvers_three_clickers_service_path(fifty_requests):
    """Three eligible approvers race for each request that needs two: two are recorded, the
    request is applied once, the third is refused with "already decided"."""
    clickers = [make_approver(name) for name in ("alice", "bob", "carol")]
    revisions = dict(Agent.objects.values_list("pk", "controls_revision"))

    def click(req, user):
        try:
            services.decision_record(
                request_id=req.pk, approver=user, verdict="approve", reason="Checked.", payload_hash=req.payload_hash
            )
            return "recorded"
        except DecisionRefused as exc:
            return exc.message

    outcomes = _race(fifty_requests, clickers, click)
    _assert_applied_exactly_once(fifty_requests, revisions)
    per_request = Counter(pk for pk, _user, result in outcomes if result == "recorded")
    assert set(per_request.values()) == {2} and len(per_request) == N
    losers = [result for _pk, _user, result in outcomes if result != "recorded"]
    assert len(losers) == N
    assert all("already decided" in message for message in losers), set(losers)


def test_fifty_requests_two_approvers_same_instant_view_path(fifty_requests):
    """Through the web view: two approvers post at the same instant (each also double-clicks).
    Every request ends applied once with two decisions; every refused click is a 409 saying
    "already decided", never a 500."""
    from django.test import Client

    clickers = [make_approver("alice"), make_approver("bob")]
    revisions = dict(Agent.objects.values_list("pk", "controls_revision"))
    clients = {}
    for user in clickers:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients[user.username] = client

    def click(req, user):
        statuses = []
        for _ in range(2):  # the double click
            response = clients[user.username].post(
                f"/approvals/{req.pk}/decide/",
                {"verdict": "approve", "reason": "Checked.", "payload_hash": req.payload_hash},
                headers={"HX-Request": "true"},
            )
            body = response.content.decode()
            if response.status_code == 409:
                assert "already decided" in body
            statuses.append(response.status_code)
        return ",".join(map(str, statuses))

    outcomes = _race(fifty_requests, clickers, click)
    _assert_applied_exactly_once(fifty_requests, revisions)
    codes = Counter(code for _pk, _user, result in outcomes for code in result.split(","))
    assert set(codes) <= {"200", "409"}, codes
    assert codes["200"] == 2 * N and codes["409"] == 2 * N
    assert ApprovalRequest.objects.filter(status="applied").count() == N
