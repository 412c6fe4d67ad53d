"""The eval gate inside the real approvals engine: a go-live request, its checklist, its approvers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from guardian.shortcuts import assign_perm

from approvals import services as approvals
from approvals.models import ApprovalRequest
from evals import services
from registry import roles
from registry.choices import VersionState
from tests.factories import AgentVersionFactory, UserFactory

OTHER_ITEMS = ("privacy", "security", "cost_budget")


@pytest.fixture(autouse=True)
def _celery_eager():
    """Notifications the engine enqueues run in-process (no worker, no broker traffic)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def people(reseeded, owner_user):
    """Two approvers (the tier-2 two-person rule) and a board member who ticks the checklist."""
    approvers = []
    for name in ("alice", "bob"):
        user = UserFactory(username=name, roles=[roles.APPROVER])
        assign_perm("registry.approve_agent", user)
        approvers.append(user)
    return {
        "owner": owner_user,
        "approvers": approvers,
        "board": UserFactory(username="gina", roles=[roles.GOVERNANCE_BOARD]),
    }


@pytest.fixture
def release(people, agent):
    """The agent runs 1.0; 2.0 is approved and waits to go live; golden set "Core" has cases a, b, c."""
    agent.success_threshold_pct = Decimal("60")
    agent.save()
    live = AgentVersionFactory(agent=agent, label="1.0", state=VersionState.DEPLOYED)
    candidate = AgentVersionFactory(agent=agent, label="2.0", state=VersionState.APPROVED)
    golden_set = services.goldenset_create(agent=agent, name="Core", user=people["owner"])
    set_version = golden_set.versions.get()
    for key in ("a", "b", "c"):
        services.case_save(set_version_id=set_version.pk, key=key, input={"q": key}, scorer="exact", expected=key)
    return {"agent": agent, "live": live, "candidate": candidate, "set_version": set_version}


def post_results(release, owner, *, passing: bool, key: str):
    verdicts = {"a": True, "b": passing, "c": False}
    run, created = services.evalrun_record_ci(
        version=release["candidate"],
        set_version=release["set_version"],
        results=[{"case": k, "passed": v} for k, v in verdicts.items()],
        idempotency_key=key,
        user=owner,
    )
    assert created
    return run


def go_live_request(release, owner) -> ApprovalRequest:
    return approvals.change_request_create(
        agent=release["agent"], kind="go_live", payload={"version": "2.0"}, requester=owner, justification="Ship 2.0."
    )


def approve_all(request, approvers) -> None:
    for approver in approvers:
        approvals.decision_record(
            request_id=request.pk,
            approver=approver,
            verdict="approve",
            reason="Reviewed the diff.",
            payload_hash=ApprovalRequest.objects.get(pk=request.pk).payload_hash,
        )


def tick_others(request, user) -> None:
    for key in OTHER_ITEMS:
        approvals.checklist_item_tick(request_id=request.pk, key=key, user=user, evidence="https://wiki.example/x")


def assert_live(release, request) -> None:
    request.refresh_from_db()
    release["candidate"].refresh_from_db()
    release["live"].refresh_from_db()
    assert request.status == "applied" and request.blocked_reason == ""
    assert release["candidate"].state == VersionState.DEPLOYED and release["live"].state == VersionState.SUPERSEDED


@pytest.mark.django_db(transaction=True)
def test_a_go_live_waits_for_a_passing_eval_run_and_applies_when_one_arrives(release, people, client):
    """GIVEN a real go-live request for 2.0, every other checklist item ticked and both approvals in
    WHEN no eval run (then a failing one) vouches for 2.0
    THEN the request stays approved but not applied, and its page says why;
    WHEN a passing run is recorded (committed, as CI's post would be)
    THEN "eval results meet threshold" ticks itself with a link to the run and 2.0 goes live."""
    request = go_live_request(release, people["owner"])
    assert request.checklist.get(key="eval_threshold").done is False  # nothing vouches for 2.0 yet
    tick_others(request, people["board"])
    approve_all(request, people["approvers"])
    request.refresh_from_db()
    assert request.status == "approved"
    assert "Eval results meet threshold" in request.blocked_reason
    assert "No passing eval run for version 2.0." in request.blocked_reason

    client.force_login(people["approvers"][0])
    page = client.get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="blocked-reason"' in page and "No passing eval run for version 2.0." in page

    failing = post_results(release, people["owner"], passing=False, key="build-1")
    request.refresh_from_db()
    assert failing.passed is False and request.status == "approved"
    assert request.checklist.get(key="eval_threshold").done is False

    passing = post_results(release, people["owner"], passing=True, key="build-2")
    assert passing.passed is True
    item = request.checklist.get(key="eval_threshold")
    assert item.done and item.automatic and item.ticked_by is None
    assert item.evidence.endswith(f"/evals/runs/{passing.pk}/")
    assert_live(release, request)
    assert client.get(f"/approvals/{request.pk}/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_hand_ticked_eval_item_does_not_let_a_version_through_without_a_run(release, people):
    """An approver ticks "eval results meet threshold" by hand: the gate still holds the request
    back; the passing run that arrives later applies it."""
    request = go_live_request(release, people["owner"])
    approvals.checklist_item_tick(
        request_id=request.pk, key="eval_threshold", user=people["board"], evidence="Looked fine on my laptop."
    )
    tick_others(request, people["board"])
    approve_all(request, people["approvers"])
    request.refresh_from_db()
    assert request.status == "approved" and request.blocked_reason == "No passing eval run for version 2.0."
    release["candidate"].refresh_from_db()
    assert release["candidate"].state == VersionState.APPROVED

    post_results(release, people["owner"], passing=True, key="build-3")
    assert_live(release, request)


@pytest.mark.django_db
def test_a_request_created_after_a_passing_run_starts_with_the_item_ticked(release, people):
    run = post_results(release, people["owner"], passing=True, key="build-4")
    request = go_live_request(release, people["owner"])
    item = request.checklist.get(key="eval_threshold")
    assert item.done and item.automatic and item.evidence.endswith(f"/evals/runs/{run.pk}/")
    assert request.checklist.filter(done=False).count() == len(OTHER_ITEMS)

    tick_others(request, people["board"])
    approve_all(request, people["approvers"])
    assert_live(release, request)


@pytest.mark.django_db
def test_a_later_failing_run_takes_the_vouch_back(release, people):
    """Of each golden set the latest run counts: a pass followed by a failure no longer vouches,
    so a request created then starts unticked and cannot apply."""
    post_results(release, people["owner"], passing=True, key="build-5")
    post_results(release, people["owner"], passing=False, key="build-6")
    request = go_live_request(release, people["owner"])
    assert request.checklist.get(key="eval_threshold").done is False
    tick_others(request, people["board"])
    approvals.checklist_item_tick(request_id=request.pk, key="eval_threshold", user=people["board"], evidence="x")
    approve_all(request, people["approvers"])
    request.refresh_from_db()
    assert request.status == "approved" and "No passing eval run" in request.blocked_reason
