"""Eval runs: queueing (idempotent per key), claiming, executing and completing them."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from registry.models import AgentVersion

from ..choices import RunSource, RunStatus
from ..models import (
    CaseResult,
    EvalRun,
    EvalTarget,
    GoldenSetVersion,
    Judge,
)
from ..runner import CaseOutcome, CaseSpec, TargetSpec, run_cases
from ..scorers import make_http_judge
from .gates import evalrun_after_completion
from .golden_sets import setversion_freeze
from .percent import pct


class EvalRunRefused(Exception):
    """The run cannot be started; the message says why."""


@transaction.atomic
def evalrun_request(
    *,
    version: AgentVersion,
    set_version: GoldenSetVersion,
    source: str = RunSource.CONSOLE,
    idempotency_key: str | None = None,
    user=None,
    enqueue: bool = True,
) -> tuple[EvalRun, bool]:
    """Queue an eval run of ``version`` on ``set_version``; the same idempotency key always
    gives the same run. The golden-set version is frozen by the first run that uses it."""
    if set_version.golden_set.agent_id != version.agent_id:
        raise EvalRunRefused("The golden set belongs to another agent.")
    if idempotency_key:
        existing = EvalRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    if not hasattr(version.agent, "eval_target"):
        raise EvalRunRefused("The agent has no eval target (endpoint) to call.")
    total = set_version.cases.count()
    if total == 0:
        raise EvalRunRefused("The golden-set version has no cases.")
    key = idempotency_key or f"{source}:{uuid.uuid4()}"
    try:
        with transaction.atomic():
            run = EvalRun.objects.create(
                agent=version.agent,
                version=version,
                set_version=set_version,
                idempotency_key=key,
                source=source,
                total_cases=total,
                threshold_pct=version.agent.success_threshold_pct,
                created_by=user,
            )
    except IntegrityError:
        # Two schedulers raced on one key: the other's row is the run.
        return EvalRun.objects.get(idempotency_key=key), False
    # Frozen under the version lock, so no edit can slip in between counting and running.
    GoldenSetVersion.objects.select_for_update().filter(pk=set_version.pk).first()
    setversion_freeze(set_version_id=set_version.pk)
    if enqueue:
        from ..tasks import eval_run_execute

        transaction.on_commit(lambda: eval_run_execute.delay(run_id=run.pk))
    return run, True


def _claim(run_id: int, task_id: str) -> EvalRun | None:
    """Take the run for this task. A queued run is taken by whoever comes first; a running
    run only by a redelivery of the very message that started it (acks_late after a worker
    died): a different task id means someone else holds it, and a finished run is final."""
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return None
        if run.status == RunStatus.QUEUED or (run.status == RunStatus.RUNNING and run.task_id == task_id):
            run.status, run.task_id, run.done_cases = RunStatus.RUNNING, task_id, 0
            run.started_at = timezone.now()
            run.save(update_fields=["status", "task_id", "done_cases", "started_at"])
            return run
    return None


def _judge_rows(outcomes: list[CaseOutcome]) -> dict[tuple, Judge]:
    rows = {}
    for identity in {o.judge_identity for o in outcomes if o.judge_identity}:
        name, model, prompt_version = identity
        rows[identity], _ = Judge.objects.get_or_create(
            name=name, defaults={"model": model, "prompt_version": prompt_version}
        )
    return rows


def evalrun_execute(*, run_id: int, task_id: str, judge_factory=None) -> EvalRun | None:
    """Call the agent with every case and record the results.

    Results are kept in memory and written in the one transaction that completes the run:
    a worker killed half-way leaves the run ``running`` with no results, and the broker's
    redelivery of the same task (acks late) starts it over."""
    run = _claim(run_id, task_id)
    if run is None:
        return None
    target = EvalTarget.objects.get(agent_id=run.agent_id)
    spec = TargetSpec(
        url=target.endpoint_url,
        secret=target.secret,
        timeout=float(target.timeout_seconds),
        concurrency=target.max_concurrency,
        max_retries=target.max_retries,
        backoff=float(target.backoff_seconds),
    )
    cases = [
        CaseSpec(case_id=c.pk, key=c.key, input=c.input, scorer=c.scorer, expected=c.expected, options=c.options)
        for c in run.set_version.cases.order_by("position", "key")
    ]

    def progress(_outcome: CaseOutcome) -> None:
        # Only while this task still holds the run; bounded by total_cases (a DB constraint).
        EvalRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, task_id=task_id).update(
            done_cases=F("done_cases") + 1
        )

    outcomes = run_cases(spec, cases, judge_factory=judge_factory or make_http_judge, on_case_done=progress)
    return _complete(run_id=run.pk, task_id=task_id, outcomes=outcomes)


@transaction.atomic
def _complete(*, run_id: int, task_id: str, outcomes: list[CaseOutcome]) -> EvalRun | None:
    run = EvalRun.objects.select_for_update().get(pk=run_id)
    if run.status != RunStatus.RUNNING or run.task_id != task_id:
        return None  # a redelivered twin finished first
    judges = _judge_rows(outcomes)
    CaseResult.objects.bulk_create(
        [
            CaseResult(
                run=run,
                case_id=o.case_id,
                case_key=o.key,
                scorer=o.scorer,
                output=o.output,
                score=o.score,
                passed=o.passed,
                latency_ms=o.latency_ms,
                cost_usd=o.cost_usd,
                attempts=max(o.attempts, 1),
                error=o.error[:2000],
                judge=judges.get(o.judge_identity),
                judge_reason=o.judge_reason[:2000],
            )
            for o in outcomes
        ]
    )
    _finish(
        run, passed_cases=sum(o.passed for o in outcomes), cost=sum((o.cost_usd or 0 for o in outcomes), Decimal(0))
    )
    return run


def _finish(run: EvalRun, *, passed_cases: int, cost: Decimal) -> None:
    run.passed_cases = passed_cases
    run.done_cases = run.total_cases
    run.pass_rate_pct = pct(passed_cases, run.total_cases)
    run.passed = run.pass_rate_pct >= run.threshold_pct
    run.total_cost_usd = Decimal(cost).quantize(Decimal("0.000001"))
    run.status = RunStatus.COMPLETED
    run.finished_at = timezone.now()
    run.save()
    transaction.on_commit(lambda: evalrun_after_completion(run_id=run.pk))


def evalrun_fail(*, run_id: int, task_id: str, error: str) -> None:
    """Mark a run failed (time limit, target gone) without recording any result."""
    EvalRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, task_id=task_id).update(
        status=RunStatus.FAILED, error=error[:4000], finished_at=timezone.now()
    )
