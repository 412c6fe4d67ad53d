"""Eval runs without a worker: idempotency, crash safety, judge calibration, the go-live gate, JSONL."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from evals import services
from evals.choices import RunStatus
from evals.models import CaseResult, EvalRun, GoldenCase, Judge
from evals.runner import CaseOutcome
from evals.services import runs as eval_runs
from evals.tasks import eval_run_execute, eval_run_for_version
from tests.factories import AgentVersionFactory, UserFactory

from .conftest import EXPECTED_PASSED

pytestmark = pytest.mark.django_db


def test_running_the_same_eval_task_twice_gives_one_eval_run(eval_setup):
    kwargs = {
        "version_id": eval_setup["version"].pk,
        "set_version_id": eval_setup["set_version"].pk,
        "idempotency_key": "ci:build-881",
    }
    first = eval_run_for_version.apply(kwargs=kwargs).get()
    second = eval_run_for_version.apply(kwargs=kwargs).get()
    assert first == second and EvalRun.objects.count() == 1

    assert eval_run_execute.apply(kwargs={"run_id": first}, task_id="t-1").get() == "done"
    assert eval_run_execute.apply(kwargs={"run_id": first}, task_id="t-2").get() == "skipped"
    run = EvalRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.results.count() == 6
    assert {r.case_key for r in run.results.filter(passed=True)} == EXPECTED_PASSED


def test_a_worker_crash_mid_run_leaves_nothing_half_recorded_and_the_redelivery_finishes(eval_setup, monkeypatch):
    run, _ = services.evalrun_request(
        version=eval_setup["version"], set_version=eval_setup["set_version"], enqueue=False
    )

    def crash(target, cases, *, judge_factory, on_case_done):
        on_case_done(CaseOutcome(case_id=None, key=cases[0].key, scorer=cases[0].scorer))
        raise SystemExit("worker killed")

    monkeypatch.setattr(eval_runs, "run_cases", crash)
    with pytest.raises(SystemExit):
        services.evalrun_execute(run_id=run.pk, task_id="delivery-1")
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.done_cases == 1 and CaseResult.objects.count() == 0

    monkeypatch.undo()
    # Another task may not take over a run someone holds; the redelivered message may.
    assert services.evalrun_execute(run_id=run.pk, task_id="other-task") is None
    services.evalrun_execute(run_id=run.pk, task_id="delivery-1")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.results.count() == 6 and run.progress_pct == 100


def test_a_golden_set_version_is_frozen_once_a_run_used_it(eval_setup):
    services.evalrun_request(version=eval_setup["version"], set_version=eval_setup["set_version"], enqueue=False)
    with pytest.raises(ValidationError, match="frozen"):
        services.case_save(
            set_version_id=eval_setup["set_version"].pk, key="new", input={}, scorer="exact", expected="x"
        )
    nxt = services.setversion_create_next(golden_set=eval_setup["golden_set"])
    assert nxt.number == 2 and nxt.cases.count() == 6 and not nxt.is_frozen


# --- judge calibration ---------------------------------------------------------------------


def _judged_results(eval_setup, verdicts):
    run, _ = services.evalrun_request(
        version=eval_setup["version"], set_version=eval_setup["set_version"], enqueue=False
    )
    judge = Judge.objects.create(name="gpt-judge · prompt v1", model="gpt-judge")
    results = [
        CaseResult.objects.create(
            run=run, case_key=f"j{i}", scorer="llm_judge", passed=v, score=Decimal(int(v)), judge=judge
        )
        for i, v in enumerate(verdicts)
    ]
    return run, judge, results


def test_judge_agreement_is_computed_on_a_hand_made_sample_and_flags_the_judge_below_80(eval_setup, client, owner_user):
    """GIVEN ten judged cases, humans agreeing with the judge on 7 of them
    THEN agreement is 70 %, the judge is untrusted, and the run page says so."""
    judge_says = [True, True, True, True, True, False, False, False, True, False]
    humans_say = [True, True, True, False, True, False, True, False, False, False]  # disagree on 3, 6, 8
    run, judge, results = _judged_results(eval_setup, judge_says)
    assert services.judge_agreement(list(zip(judge_says, humans_say, strict=True))) == Decimal("70.00")
    rater = UserFactory(username="rater")
    for result, human in zip(results, humans_say, strict=True):
        services.humanrating_record(result_id=result.pk, rater=rater, human_passed=human)
    judge.refresh_from_db()
    assert judge.agreement_pct == Decimal("70.00") and judge.sample_size == 10 and judge.trusted is False

    run.status, run.total_cases, run.done_cases = RunStatus.RUNNING, 10, 0
    run.save()
    CaseResult.objects.filter(run=run).exclude(case_key__startswith="j").delete()
    eval_runs._finish(run, passed_cases=6, cost=Decimal(0))
    client.force_login(owner_user)
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'data-testid="judge-untrusted"' in page and "70 %" in page
    # Its scores no longer count for the gate: nothing countable remains in this run.
    assert services.evalrun_gate_pass_rate(run)[0] is None and not services.evalrun_counts_for_gate(run)


def test_a_judge_at_80_percent_stays_trusted(eval_setup):
    verdicts = [True] * 10
    _run, judge, results = _judged_results(eval_setup, verdicts)
    rater = UserFactory(username="rater")
    for i, result in enumerate(results):
        services.humanrating_record(result_id=result.pk, rater=rater, human_passed=i >= 2)  # 8 of 10 agree
    judge.refresh_from_db()
    assert judge.agreement_pct == Decimal("80.00") and judge.trusted is True


# --- the go-live gate ------------------------------------------------------------------------


class FakeRequest:
    def __init__(self, kind, version):
        self.kind, self.version, self.version_id = kind, version, version.pk if version else None


def test_a_version_cannot_go_live_without_a_passing_eval_run(eval_setup):
    version = eval_setup["version"]
    assert services.apply_gate_eval(FakeRequest("go_live", version)) == "No passing eval run for version 2.0."
    assert services.apply_gate_eval(FakeRequest("new_version", version)) is not None

    failing = eval_setup["agent"]
    failing.success_threshold_pct = Decimal("90")  # 66.67 % will not do
    failing.save()
    run, _ = services.evalrun_request(version=version, set_version=eval_setup["set_version"], enqueue=False)
    services.evalrun_execute(run_id=run.pk, task_id="t")
    run.refresh_from_db()
    assert run.passed is False
    assert services.apply_gate_eval(FakeRequest("go_live", version)) is not None

    failing.success_threshold_pct = Decimal("60")
    failing.save()
    run2, _ = services.evalrun_request(version=version, set_version=eval_setup["set_version"], enqueue=False)
    services.evalrun_execute(run_id=run2.pk, task_id="t2")
    assert services.apply_gate_eval(FakeRequest("go_live", version)) is None
    assert services.apply_gate_eval(FakeRequest("tool_grant", AgentVersionFactory(agent=failing))) is None


# --- JSONL ----------------------------------------------------------------------------------


def test_a_golden_set_file_with_a_malformed_line_is_rejected_with_its_line_number_and_nothing_imported(
    eval_setup, client, owner_user
):
    golden_set = services.goldenset_create(agent=eval_setup["agent"], name="Imported")
    version = golden_set.versions.get()
    text = (
        '{"key": "a", "input": {"q": 1}, "scorer": "exact", "expected": "x"}\n'
        '{"key": "b", "input": {"q": 2}, "scorer": "contains", "expected": ["y"]}\n'
        '{"key": "c", "input": {"q": 3}, "scorer": "exact", "expected": "z"\n'
        '{"key": "d", "input": {"q": 4}, "scorer": "regex", "expected": "(unclosed"}\n'
    )
    with pytest.raises(services.JsonlImportError) as caught:
        services.cases_import_jsonl(set_version_id=version.pk, text=text)
    assert [e.line for e in caught.value.errors] == [3, 4]
    assert GoldenCase.objects.filter(set_version=version).count() == 0

    client.force_login(owner_user)
    response = client.post(f"/evals/set-versions/{version.pk}/import/", {"text": text})
    assert response.status_code == 400 and "line 3: not valid JSON" in response.content.decode()
    assert GoldenCase.objects.filter(set_version=version).count() == 0


def test_jsonl_export_round_trips_through_import(eval_setup):
    exported = services.cases_export_jsonl(set_version=eval_setup["set_version"])
    golden_set = services.goldenset_create(agent=eval_setup["agent"], name="Copy")
    assert services.cases_import_jsonl(set_version_id=golden_set.versions.get().pk, text=exported) == 6
    assert services.cases_export_jsonl(set_version=golden_set.versions.get()) == exported
