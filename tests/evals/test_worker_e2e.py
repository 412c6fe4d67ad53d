"""End to end with a real Celery worker on Redis against a fake agent on localhost."""

import time
from decimal import Decimal

import pytest

from evals import services
from evals.choices import RunStatus
from evals.models import EvalRun

from .conftest import EXPECTED_PASSED

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_it_runs_an_eval_on_a_real_worker_with_a_slow_and_a_failing_case(
    celery_worker_process, eval_setup, fake_agent, client, owner_user
):
    """GIVEN six cases, one slower than the 1 s timeout and one answered wrongly
    WHEN the run is queued (enqueued on commit to the Redis broker)
    THEN the worker stores one result per case, the right pass rate, and progress reaches 100 %."""
    run, created = services.evalrun_request(
        version=eval_setup["version"], set_version=eval_setup["set_version"], user=owner_user
    )
    assert created
    client.force_login(owner_user)
    seen_progress = set()
    deadline = time.monotonic() + 60
    while True:
        run.refresh_from_db()
        fragment = client.get(
            run.get_absolute_url() + "?fragment=progress", headers={"HX-Request": "true"}
        ).content.decode()
        seen_progress.add(run.progress_pct)
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.progress_pct == 100 and run.done_cases == run.total_cases == 6
    assert 'data-testid="run-progress">100 %' in fragment.replace("\n", "")
    results = {r.case_key: r for r in run.results.all()}
    assert set(results) == {"refund", "schema", "number", "flaky", "slow", "wrong"}
    assert {k for k, r in results.items() if r.passed} == EXPECTED_PASSED
    assert "timed out after 1 s" in results["slow"].error and results["slow"].attempts == 2
    assert results["wrong"].passed is False and results["wrong"].output == "I cannot help with that."
    assert results["flaky"].attempts == 2 and results["flaky"].cost_usd == Decimal("0.003000")
    assert all(results[k].latency_ms is not None for k in EXPECTED_PASSED)
    assert run.pass_rate_pct == Decimal("66.67") and run.passed is True  # threshold 60 %
    assert run.total_cost_usd == Decimal("0.0075")  # 1 + 2 + 0.5 + 3 + 1 thousandths (slow had none)
    assert EvalRun.objects.count() == 1
    assert eval_setup["set_version"].__class__.objects.get(pk=eval_setup["set_version"].pk).is_frozen
