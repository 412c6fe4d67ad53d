"""``/api/v1/eval-runs/``: CI posts results computed elsewhere; runs read back with pass rate and status."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from evals import services
from evals.choices import RunSource, RunStatus
from evals.models import CaseResult, EvalRun, GoldenSetVersion
from registry.choices import VersionState
from registry.models import UserAPIKey
from tests.factories import AgentFactory, AgentVersionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/eval-runs/"


def token_client(user) -> APIClient:
    _, key = UserAPIKey.objects.create_key(name="ci", user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def ci_setup(agent, owner_user):
    """Version 2.0 of the agent (threshold 60 %) and golden set "Core" v1 with cases a, b, c."""
    agent.success_threshold_pct = Decimal("60")
    agent.save()
    version = AgentVersionFactory(agent=agent, label="2.0")
    golden_set = services.goldenset_create(agent=agent, name="Core", user=owner_user)
    set_version = golden_set.versions.get()
    for key in ("a", "b", "c"):
        services.case_save(set_version_id=set_version.pk, key=key, input={"q": key}, scorer="exact", expected=key)
    return {"agent": agent, "version": version, "golden_set": golden_set, "set_version": set_version}


def body(**overrides) -> dict:
    data = {
        "agent": "support-triage",
        "version": "2.0",
        "golden_set": "Core",
        "golden_set_version": 1,
        "idempotency_key": "gha:8812:1",
        "commit_sha": "9f2c1e07ab",
        "results": [
            {"case": "a", "passed": True, "score": 1, "output": "a", "latency_ms": 820, "cost_usd": "0.0012"},
            {"case": "b", "passed": True, "output": {"answer": "b"}},
            {"case": "c", "passed": False, "score": 0.25, "output": "nope", "error": ""},
        ],
    }
    data.update(overrides)
    return data


def post(client, data, **headers):
    return client.post(URL, json.dumps(data), content_type="application/json", **headers)


def nothing_stored(set_version) -> bool:
    set_version.refresh_from_db()
    return EvalRun.objects.count() == 0 and CaseResult.objects.count() == 0 and not set_version.is_frozen


# --- recording -----------------------------------------------------------------------------------


def test_it_records_a_completed_ci_run_with_its_results(ci_setup, owner_user):
    response = post(token_client(owner_user), body())
    assert response.status_code == 201, response.content
    data = response.json()
    run = EvalRun.objects.get()
    assert data["id"] == run.pk and response["Location"].endswith(f"/evals/runs/{run.pk}/")
    assert data["status"] == "completed" and data["source"] == "ci" and data["progress_pct"] == 100
    assert data["pass_rate_pct"] == "66.67" and data["passed"] is True and data["counts_for_gate"] is True
    assert data["idempotency_key"] == "gha:8812:1" and data["commit_sha"] == "9f2c1e07ab"
    assert data["golden_set"] == {"id": ci_setup["golden_set"].pk, "name": "Core", "version": 1}
    assert data["created_by"] == "owner" and data["total_cost_usd"] == "0.001200"
    results = {r.case_key: r for r in run.results.all()}
    assert results["a"].score == Decimal("1") and results["a"].latency_ms == 820
    assert results["b"].score == Decimal("1") and results["b"].output == {"answer": "b"}  # default score from passed
    assert results["c"].score == Decimal("0.25") and results["c"].passed is False
    ci_setup["set_version"].refresh_from_db()
    assert ci_setup["set_version"].is_frozen  # the results can be traced to exactly these cases
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(EvalRun), object_pk=str(run.pk))
    assert entries.filter(action=LogEntry.Action.CREATE).get().actor == owner_user


def test_a_passing_ci_run_ticks_eval_threshold_on_the_versions_go_live_request(
    ci_setup, owner_user, django_capture_on_commit_callbacks
):
    from approvals.services import change_request_create

    version = ci_setup["version"]
    version.state = VersionState.APPROVED
    version.save()
    request = change_request_create(
        agent=ci_setup["agent"], kind="go_live", payload={"version": "2.0"}, requester=owner_user, justification="2.0"
    )
    assert request.checklist.get(key="eval_threshold").done is False
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(owner_user), body())
    assert response.status_code == 201
    item = request.checklist.get(key="eval_threshold")
    assert item.done and item.automatic and item.evidence.endswith(f"/evals/runs/{response.json()['id']}/")


def test_a_failing_ci_run_is_recorded_but_ticks_nothing(ci_setup, owner_user, django_capture_on_commit_callbacks):
    results = [{"case": k, "passed": k == "a"} for k in ("a", "b", "c")]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(token_client(owner_user), body(results=results))
    assert response.status_code == 201 and response.json()["passed"] is False
    assert response.json()["pass_rate_pct"] == "33.33"
    assert services.version_passing_run(ci_setup["version"]) is None


def test_a_replay_with_the_same_key_and_results_returns_the_same_run(ci_setup, owner_user):
    client = token_client(owner_user)
    first = post(client, body())
    # The same results spelled differently (1.0 for 1, another order) are the same results.
    again = body()
    again["results"] = list(reversed(again["results"]))
    again["results"][-1] = {**again["results"][-1], "score": 1.0}
    second = post(client, again, HTTP_IDEMPOTENCY_KEY="gha:8812:1")
    assert first.status_code == 201 and second.status_code == 200
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert second.json()["id"] == first.json()["id"]
    assert EvalRun.objects.count() == 1 and CaseResult.objects.count() == 3


@pytest.mark.parametrize(
    "change",
    [
        {"results": [{"case": "a", "passed": True}, {"case": "b", "passed": True}, {"case": "c", "passed": True}]},
        {"commit_sha": "abcdef1"},
        {"version": "2.1"},
    ],
    ids=["other-results", "other-commit", "other-version"],
)
def test_reusing_a_key_for_other_results_is_refused_with_409_and_changes_nothing(ci_setup, owner_user, change):
    AgentVersionFactory(agent=ci_setup["agent"], label="2.1")
    client = token_client(owner_user)
    first = post(client, body())
    response = post(client, body(**change))
    assert response.status_code == 409
    [error] = response.json()["errors"]
    assert error["code"] == "idempotency_conflict" and error["field"] == "idempotency_key"
    assert f"eval run #{first.json()['id']}" in error["message"] and "new key" in error["message"]
    assert EvalRun.objects.count() == 1 and CaseResult.objects.filter(passed=True).count() == 2


def test_keys_are_scoped_per_agent(ci_setup, owner_user, board_user):
    other = AgentFactory(slug="billing-bot", name="Billing Bot")
    AgentVersionFactory(agent=other, label="1.0")
    golden = services.goldenset_create(agent=other, name="Core")
    services.case_save(set_version_id=golden.versions.get().pk, key="x", input={}, scorer="exact", expected="x")
    assert post(token_client(owner_user), body()).status_code == 201
    response = post(
        token_client(board_user),
        body(agent="billing-bot", version="1.0", results=[{"case": "x", "passed": True}]),
    )
    assert response.status_code == 201 and EvalRun.objects.count() == 2


# --- bad input: 400 naming the field, nothing stored -----------------------------------------------


def _results(*items):
    return list(items)


BAD_INPUT = [
    ("unknown-case", {"results": _results(*body()["results"], {"case": "zz", "passed": True})}, "results[3].case"),
    ("missing-case", {"results": body()["results"][:2]}, "results"),
    ("duplicate-case", {"results": _results(*body()["results"], {"case": "a", "passed": True})}, "results[3].case"),
    (
        "score-above-1",
        {"results": _results({"case": "a", "passed": True, "score": 1.5}, *body()["results"][1:])},
        "results[0].score",
    ),
    (
        "score-not-a-number",
        {"results": _results({"case": "a", "passed": True, "score": "high"}, *body()["results"][1:])},
        "results[0].score",
    ),
    (
        "passed-not-boolean",
        {"results": _results({"case": "a", "passed": "yes"}, *body()["results"][1:])},
        "results[0].passed",
    ),
    ("passed-missing", {"results": _results({"case": "a"}, *body()["results"][1:])}, "results[0].passed"),
    (
        "negative-cost",
        {"results": _results({"case": "a", "passed": True, "cost_usd": "-1"}, *body()["results"][1:])},
        "results[0].cost_usd",
    ),
    (
        "negative-latency",
        {"results": _results({"case": "a", "passed": True, "latency_ms": -5}, *body()["results"][1:])},
        "results[0].latency_ms",
    ),
    (
        "huge-output",
        {"results": _results({"case": "a", "passed": True, "output": "x" * 20_000}, *body()["results"][1:])},
        "results[0].output",
    ),
    ("no-results", {"results": []}, "results"),
    ("results-not-a-list", {"results": {"a": True}}, "results"),
    ("wrong-version", {"version": "9.9"}, "version"),
    ("wrong-golden-set-version", {"golden_set_version": 7}, "golden_set_version"),
    ("golden-set-version-zero", {"golden_set_version": 0}, "golden_set_version"),
    ("unknown-golden-set", {"golden_set": "Nope"}, "golden_set"),
    ("unknown-agent", {"agent": "nobody-knows"}, "agent"),
    ("bad-commit", {"commit_sha": "not a sha"}, "commit_sha"),
    ("key-with-spaces", {"idempotency_key": "my key"}, "idempotency_key"),
    ("key-too-long", {"idempotency_key": "k" * 151}, "idempotency_key"),
    ("key-missing", {"idempotency_key": None}, "idempotency_key"),
]


@pytest.mark.parametrize(("change", "field"), [(c, f) for _, c, f in BAD_INPUT], ids=[i for i, _, _ in BAD_INPUT])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(ci_setup, owner_user, change, field):
    data = body(**change)
    data = {k: v for k, v in data.items() if v is not None}
    response = post(token_client(owner_user), data)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors], errors
    assert all(e["message"] for e in errors)
    assert nothing_stored(ci_setup["set_version"])


def test_unknown_and_missing_cases_are_all_named_in_one_answer(ci_setup, owner_user):
    response = post(
        token_client(owner_user), body(results=[{"case": "a", "passed": True}, {"case": "q", "passed": 1 == 1}])
    )
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert response.status_code == 400 and set(errors) == {"results[1].case", "results"}
    assert errors["results[1].case"]["code"] == "unknown_case" and "'q'" in errors["results[1].case"]["message"]
    assert errors["results"]["code"] == "missing_cases" and "b, c" in errors["results"]["message"]


def test_a_golden_set_of_another_agent_is_not_found(ci_setup, owner_user):
    other = AgentFactory(slug="billing-bot", name="Billing Bot")
    services.goldenset_create(agent=other, name="Billing only")
    response = post(token_client(owner_user), body(golden_set="Billing only"))
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "golden_set"
    # and the service refuses it too, whoever calls it
    with pytest.raises(services.CiResultsRefused) as refused:
        services.evalrun_record_ci(
            version=ci_setup["version"],
            set_version=GoldenSetVersion.objects.get(golden_set__agent=other),
            results=[],
            idempotency_key="k",
        )
    assert refused.value.errors[0]["field"] == "golden_set"
    assert EvalRun.objects.count() == 0


def test_the_header_key_must_match_the_body_key(ci_setup, owner_user):
    response = post(token_client(owner_user), body(), HTTP_IDEMPOTENCY_KEY="another")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "idempotency_key"
    assert nothing_stored(ci_setup["set_version"])


def test_malformed_json_and_oversized_bodies_are_refused(ci_setup, owner_user):
    client = token_client(owner_user)
    response = client.post(URL, '{"agent": ', content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "parse_error"
    response = client.post(URL, "x" * (5 * 1024 * 1024 + 1), content_type="application/json")
    assert response.status_code == 413 and "5 MiB" in response.json()["errors"][0]["message"]
    assert nothing_stored(ci_setup["set_version"])


# --- who may post and read ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_fixture", ["executive_user", "auditor_user", "approver_user", "operator_user", "other_owner_user"]
)
def test_only_owners_and_the_board_may_post(ci_setup, request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    response = post(token_client(user), body())
    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["code"] == "permission_denied" and "owners and the governance board" in error["message"]
    assert nothing_stored(ci_setup["set_version"])


def test_the_governance_board_may_post(ci_setup, board_user):
    assert post(token_client(board_user), body()).status_code == 201


def test_a_user_without_a_role_cannot_see_the_agent(ci_setup, outsider_user):
    response = post(token_client(outsider_user), body())
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "agent"
    assert nothing_stored(ci_setup["set_version"])


def test_the_service_checks_the_poster_too(ci_setup, executive_user):
    with pytest.raises(services.CiResultsRefused) as refused:
        services.evalrun_record_ci(
            version=ci_setup["version"],
            set_version=ci_setup["set_version"],
            results=body()["results"],
            idempotency_key="k",
            user=executive_user,
        )
    assert refused.value.status == 403 and EvalRun.objects.count() == 0


def test_anonymous_and_bad_tokens_are_401(ci_setup):
    assert APIClient().post(URL, body(), format="json").status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope.nope")
    response = client.post(URL, body(), format="json")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert client.get(URL).status_code == 401
    assert nothing_stored(ci_setup["set_version"])


def test_runs_cannot_be_edited_or_deleted(ci_setup, owner_user):
    client = token_client(owner_user)
    run_id = post(client, body()).json()["id"]
    assert client.patch(f"{URL}{run_id}/", {"passed": True}, format="json").status_code == 405
    assert client.delete(f"{URL}{run_id}/").status_code == 405
    assert EvalRun.objects.filter(pk=run_id, pass_rate_pct=Decimal("66.67")).exists()


def test_executives_and_auditors_read_runs_with_results(ci_setup, owner_user, executive_user, auditor_user):
    run_id = post(token_client(owner_user), body()).json()["id"]
    for reader in (executive_user, auditor_user):
        client = token_client(reader)
        listing = client.get(URL)
        assert listing.status_code == 200 and [r["id"] for r in listing.json()["results"]] == [run_id]
        detail = client.get(f"{URL}{run_id}/").json()
        assert detail["pass_rate_pct"] == "66.67" and detail["status"] == "completed"
        assert {r["case"]: r["passed"] for r in detail["results"]} == {"a": True, "b": True, "c": False}


def test_a_user_who_cannot_see_the_agent_gets_404_and_an_empty_list(ci_setup, owner_user, outsider_user):
    run_id = post(token_client(owner_user), body()).json()["id"]
    client = token_client(outsider_user)
    assert client.get(f"{URL}{run_id}/").status_code == 404
    assert client.get(URL).json()["results"] == []


def test_the_list_filters_and_refuses_unknown_filter_values(ci_setup, owner_user):
    client = token_client(owner_user)
    post(client, body())
    AgentVersionFactory(agent=ci_setup["agent"], label="2.1")
    post(client, body(version="2.1", idempotency_key="gha:8813:1"))
    assert len(client.get(URL, {"version": "2.1"}).json()["results"]) == 1
    assert (
        len(client.get(URL, {"agent": "support-triage", "source": "ci", "status": "completed"}).json()["results"]) == 2
    )
    assert client.get(URL, {"source": "console"}).json()["results"] == []
    response = client.get(URL, {"status": "finished"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "status"
    assert client.get(URL, {"source": "jenkins"}).status_code == 400


def test_the_list_has_a_bounded_number_of_queries(ci_setup, owner_user, django_assert_max_num_queries):
    client = token_client(owner_user)
    for n in range(8):
        AgentVersionFactory(agent=ci_setup["agent"], label=f"3.{n}")
        post(client, body(version=f"3.{n}", idempotency_key=f"k{n}"))
    with django_assert_max_num_queries(8):
        response = client.get(URL)
    assert response.status_code == 200 and response.json()["count"] == 8


def test_console_runs_read_without_a_key(ci_setup, owner_user):
    run = EvalRun.objects.create(
        agent=ci_setup["agent"],
        version=ci_setup["version"],
        set_version=ci_setup["set_version"],
        idempotency_key="console:x",
        source=RunSource.CONSOLE,
        status=RunStatus.QUEUED,
        total_cases=3,
        threshold_pct=Decimal("60"),
    )
    data = token_client(owner_user).get(f"{URL}{run.pk}/").json()
    assert data["idempotency_key"] is None and data["status"] == "queued" and data["progress_pct"] == 0
    assert data["counts_for_gate"] is False and data["gate_pass_rate_pct"] is None


@pytest.mark.django_db(transaction=True)
def test_two_ci_retries_racing_on_one_key_make_one_run(reseeded, ci_setup, owner_user):
    """GIVEN two identical posts arriving at the same instant on two connections
    THEN one run is created and both answer with it; nothing is recorded twice."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(2)
    answers, failures = [], []

    def post_once():
        try:
            barrier.wait(timeout=10)
            run, created = services.evalrun_record_ci(
                version=ci_setup["version"],
                set_version=ci_setup["set_version"],
                results=body()["results"],
                idempotency_key="race",
                user=owner_user,
            )
            answers.append((run.pk, created))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert len({pk for pk, _ in answers}) == 1 and sorted(created for _, created in answers) == [False, True]
    assert EvalRun.objects.count() == 1 and CaseResult.objects.count() == 3
