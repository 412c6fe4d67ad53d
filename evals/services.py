"""Eval rules: golden sets and their freezing, eval runs, CI results, judge calibration, gates."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.module_loading import import_string

from registry.models import Agent, AgentVersion
from registry.permissions import user_can_edit_agent
from registry.services import agent_controls_update

from .choices import AlertStatus, DriftAction, DriftMetric, RunSource, RunStatus, Scorer
from .drift_stats import (
    chi_square_homogeneity,
    population_stability_index,
    relative_change_pct,
    two_proportion_z,
    wilson_interval,
)
from .models import (
    CASE_KEY,
    CaseResult,
    DriftAlert,
    DriftPolicy,
    EvalRun,
    EvalTarget,
    GoldenCase,
    GoldenSet,
    GoldenSetVersion,
    HumanRating,
    Judge,
)
from .runner import CaseOutcome, CaseSpec, TargetSpec, run_cases
from .scorers import case_definition_errors, judge_identity, make_http_judge
from .selectors import OUTCOMES, telemetry_window

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_CASES_PER_VERSION = 5000
MAX_INPUT_CHARS = 64 * 1024
AGREEMENT_BAR_PCT = Decimal("80")
GO_LIVE_KINDS = ("go_live", "new_version")
CHECKLIST_KEY = "eval_threshold"


def _pct(numerator: int, denominator: int) -> Decimal:
    if denominator == 0:
        return Decimal("0.00")
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- golden sets --------------------------------------------------------------------------


@transaction.atomic
def goldenset_create(*, agent: Agent, name: str, description: str = "", user=None) -> GoldenSet:
    """A new golden set with an empty, editable version 1."""
    golden_set = GoldenSet.objects.create(agent=agent, name=name.strip(), description=description, created_by=user)
    GoldenSetVersion.objects.create(golden_set=golden_set, number=1, created_by=user)
    return golden_set


@transaction.atomic
def setversion_create_next(*, golden_set: GoldenSet, user=None, note: str = "") -> GoldenSetVersion:
    """The next version of a golden set starts as an editable copy of the latest one, so a
    frozen set is changed by versioning it, never in place."""
    GoldenSet.objects.select_for_update().get(pk=golden_set.pk)  # two editors must not both take number n+1
    latest = golden_set.versions.order_by("-number").first()
    number = (latest.number + 1) if latest else 1
    new = GoldenSetVersion.objects.create(golden_set=golden_set, number=number, note=note, created_by=user)
    if latest:
        for case in latest.cases.all():
            GoldenCase.objects.create(
                set_version=new,
                key=case.key,
                position=case.position,
                input=case.input,
                scorer=case.scorer,
                expected=case.expected,
                options=case.options,
            )
    return new


def setversion_freeze(*, set_version_id: int) -> bool:
    """Freeze a version (idempotent). True if this call froze it."""
    return (
        GoldenSetVersion.objects.filter(pk=set_version_id, frozen_at__isnull=True).update(frozen_at=timezone.now()) == 1
    )


def _lock_editable_version(set_version_id: int) -> GoldenSetVersion:
    # The lock orders us with an eval run freezing the same version: edit first or not at all.
    version = GoldenSetVersion.objects.select_for_update().get(pk=set_version_id)
    if version.is_frozen:
        raise ValidationError("This golden-set version is frozen (an eval has used it); create a new version.")
    return version


def case_validate(*, key: str, input: Any, scorer: str, expected: Any, options: Any) -> None:
    """Raise ValidationError (by field) when the case cannot be stored and scored."""
    errors: dict[str, list[str]] = {}
    try:
        CASE_KEY(key)
    except ValidationError as exc:
        errors["key"] = list(exc.messages)
    if len(json.dumps(input, ensure_ascii=False)) > MAX_INPUT_CHARS:
        errors["input"] = [f"The input is larger than {MAX_INPUT_CHARS} characters."]
    problems = case_definition_errors(scorer, expected, options)
    if problems:
        errors["scorer" if scorer not in Scorer.values else "expected"] = problems
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def case_save(
    *,
    set_version_id: int,
    key: str,
    input: Any,
    scorer: str,
    expected: Any,
    options: dict | None = None,
    case_id: int | None = None,
) -> GoldenCase:
    """Add or edit a case of an editable version (keys unique within the version)."""
    version = _lock_editable_version(set_version_id)
    options = options or {}
    case_validate(key=key, input=input, scorer=scorer, expected=expected, options=options)
    if case_id is None:
        if version.cases.count() >= MAX_CASES_PER_VERSION:
            raise ValidationError(f"A version holds at most {MAX_CASES_PER_VERSION} cases.")
        case = GoldenCase(set_version=version, position=(version.cases.aggregate(m=Max("position"))["m"] or 0) + 1)
    else:
        case = GoldenCase.objects.get(pk=case_id, set_version=version)
    if version.cases.filter(key=key).exclude(pk=case.pk).exists():
        raise ValidationError({"key": [f"Another case in this version already has the key {key!r}."]})
    case.key, case.input, case.scorer, case.expected, case.options = key, input, scorer, expected, options
    case.save()
    return case


@transaction.atomic
def case_delete(*, case_id: int) -> None:
    case = GoldenCase.objects.get(pk=case_id)
    _lock_editable_version(case.set_version_id)
    case.delete()


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class JsonlImportError(Exception):
    """The file was rejected; nothing was imported. ``errors`` name the offending lines."""

    def __init__(self, errors: list[LineError]):
        super().__init__("; ".join(map(str, errors[:20])))
        self.errors = errors


def cases_parse_jsonl(text: str | bytes) -> list[dict]:
    """Parse and validate a JSONL golden set, one case per line:
    ``{"key": "refund-1", "input": {...}, "scorer": "exact", "expected": ..., "options": {...}}``.
    Every line is checked before anything is accepted; blank lines are skipped."""
    if isinstance(text, bytes):
        if len(text) > MAX_IMPORT_BYTES:
            raise JsonlImportError([LineError(0, f"The file is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MiB.")])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JsonlImportError([LineError(0, "The file is not UTF-8 text.")]) from None
    errors: list[LineError] = []
    cases: list[dict] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            errors.append(LineError(number, f"not valid JSON ({exc.msg} at column {exc.colno})."))
            continue
        if not isinstance(item, dict):
            errors.append(LineError(number, "each line must be a JSON object."))
            continue
        unknown = set(item) - {"key", "input", "scorer", "expected", "options"}
        if unknown:
            errors.append(LineError(number, f"unknown field(s): {', '.join(sorted(unknown))}."))
            continue
        missing = [f for f in ("input", "expected") if f not in item]
        if missing:
            errors.append(LineError(number, f"missing field(s): {', '.join(missing)}."))
            continue
        key = item.get("key", f"line-{number}")
        if not isinstance(key, str):
            errors.append(LineError(number, "key must be a string."))
            continue
        case = {
            "key": key,
            "input": item["input"],
            "scorer": item.get("scorer", Scorer.EXACT),
            "expected": item["expected"],
            "options": item.get("options", {}),
        }
        try:
            case_validate(**case)
        except ValidationError as exc:
            errors.append(LineError(number, " ".join(m for ms in exc.message_dict.values() for m in ms)))
            continue
        if key in seen:
            errors.append(LineError(number, f"duplicate key {key!r} (first on line {seen[key]})."))
            continue
        seen[key] = number
        cases.append(case)
    if len(cases) > MAX_CASES_PER_VERSION:
        errors.append(LineError(0, f"At most {MAX_CASES_PER_VERSION} cases per version."))
    if not errors and not cases:
        errors.append(LineError(0, "The file holds no cases."))
    if errors:
        raise JsonlImportError(errors)
    return cases


@transaction.atomic
def cases_import_jsonl(*, set_version_id: int, text: str | bytes, replace: bool = False) -> int:
    """Import a JSONL file into an editable version: all lines or none. With ``replace``
    the version's cases are replaced; otherwise keys already present are an error."""
    cases = cases_parse_jsonl(text)
    version = _lock_editable_version(set_version_id)
    if replace:
        version.cases.all().delete()
    else:
        existing = set(version.cases.values_list("key", flat=True))
        clashes = [c["key"] for c in cases if c["key"] in existing]
        if clashes:
            raise JsonlImportError([LineError(0, f"keys already in this version: {', '.join(clashes[:10])}.")])
        if len(existing) + len(cases) > MAX_CASES_PER_VERSION:
            raise JsonlImportError([LineError(0, f"A version holds at most {MAX_CASES_PER_VERSION} cases.")])
    start = (version.cases.aggregate(m=Max("position"))["m"] or 0) + 1
    for offset, case in enumerate(cases):
        GoldenCase.objects.create(set_version=version, position=start + offset, **case)
    return len(cases)


def cases_export_jsonl(*, set_version: GoldenSetVersion) -> str:
    """The version's cases as JSONL, in the import format (export → import round-trips)."""
    lines = [
        json.dumps(
            {"key": c.key, "input": c.input, "scorer": c.scorer, "expected": c.expected, "options": c.options},
            ensure_ascii=False,
            sort_keys=True,
        )
        for c in set_version.cases.order_by("position", "key")
    ]
    return "\n".join(lines) + ("\n" if lines else "")


# --- eval targets -------------------------------------------------------------------------


@transaction.atomic
def evaltarget_save(*, agent: Agent, keep_secret_if_blank: bool = True, **fields) -> EvalTarget:
    """Create or update the agent's eval target. A blank secret keeps the stored one, since
    the form never shows it back."""
    target = EvalTarget.objects.select_for_update().filter(agent=agent).first() or EvalTarget(agent=agent)
    for name, value in fields.items():
        if name == "secret" and not value and keep_secret_if_blank and target.pk:
            continue
        setattr(target, name, value)
    target.full_clean()
    target.save()
    return target


# --- eval runs ----------------------------------------------------------------------------


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
        from .tasks import eval_run_execute

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
    run.pass_rate_pct = _pct(passed_cases, run.total_cases)
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


MAX_CI_KEY_CHARS = 150
MAX_CI_OUTPUT_CHARS = 16_000


class CiResultsRefused(Exception):
    """Posted results were refused; nothing was stored. ``errors`` are API-shaped
    (``code``, ``field``, ``message``); ``status`` is the HTTP status that fits them."""

    def __init__(self, errors: list[dict], status: int = 400):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors
        self.status = status


def user_may_post_eval_results(user, agent: Agent) -> bool:
    """Who may vouch for a version with results computed elsewhere: whoever may change the
    agent — its owners (``change_agent`` on that agent) and the governance board (globally).
    Approvers, operators, executives and auditors may not: the people who decide on a go-live
    must not also be the ones who produce its evidence."""
    return user_can_edit_agent(user, agent)


def _ci_key(agent_id: int, key: str) -> str:
    # Keys are scoped per agent (like Stripe's per account), so two teams' CI never collide
    # and nobody learns from a 409 that another agent used a key.
    return f"ci:{agent_id}:{key}"


def ci_key_public(run: EvalRun) -> str:
    """The idempotency key as the client sent it."""
    prefix = f"ci:{run.agent_id}:"
    return run.idempotency_key[len(prefix) :] if run.idempotency_key.startswith(prefix) else run.idempotency_key


def _canonical_decimal(value) -> str | None:
    if value is None:
        return None
    return format(Decimal(value).normalize(), "f")


def _ci_normalise(item: dict) -> dict:
    # Rounded to the stored precision first, so the digest of a replay matches what was stored.
    passed = bool(item["passed"])
    score = item.get("score")
    score = Decimal(str(score)) if score is not None else (Decimal("1") if passed else Decimal("0"))
    cost = item.get("cost_usd")
    cost = Decimal(str(cost)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP) if cost is not None else None
    return {
        "case": item["case"],
        "passed": passed,
        "score": score.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        "output": item.get("output"),
        "latency_ms": item.get("latency_ms"),
        "cost_usd": cost,
        "error": (item.get("error") or "")[:2000],
    }


def _ci_digest(*, version: AgentVersion, set_version: GoldenSetVersion, results: list[dict], commit_sha: str) -> str:
    document = {
        "version": version.pk,
        "set_version": set_version.pk,
        "commit_sha": commit_sha,
        "results": sorted(
            (
                {**r, "score": _canonical_decimal(r["score"]), "cost_usd": _canonical_decimal(r["cost_usd"])}
                for r in results
            ),
            key=lambda r: r["case"],
        ),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _ci_replay(existing: EvalRun, digest: str) -> EvalRun:
    if existing.source != RunSource.CI or existing.request_digest != digest:
        raise CiResultsRefused(
            [
                {
                    "code": "idempotency_conflict",
                    "field": "idempotency_key",
                    "message": f"This idempotency key was already used for eval run #{existing.pk} with other "
                    "results; post new results under a new key.",
                }
            ],
            status=409,
        )
    return existing


@transaction.atomic
def evalrun_record_ci(
    *,
    version: AgentVersion,
    set_version: GoldenSetVersion,
    results: list[dict],
    idempotency_key: str,
    user=None,
    commit_sha: str = "",
) -> tuple[EvalRun, bool]:
    """Record results computed elsewhere (CI) as a completed run; a passing one ticks the
    version's go-live checklist like any other run.

    Rules: the poster may change the agent (:func:`user_may_post_eval_results`); the golden set
    belongs to the version's agent; every case of the golden-set version is reported exactly once,
    so a pass rate cannot be made up from a friendly subset. The key is scoped to the agent: a
    replay with the same key and the same results returns the first run (``created`` False); the
    same key with anything different is refused (409). Refusals store nothing."""
    if user is not None and not user_may_post_eval_results(user, version.agent):
        raise CiResultsRefused(
            [
                {
                    "code": "permission_denied",
                    "field": None,
                    "message": f"You may not post eval results for {version.agent.name}: "
                    "only its owners and the governance board may.",
                }
            ],
            status=403,
        )
    if not idempotency_key or len(idempotency_key) > MAX_CI_KEY_CHARS:
        raise CiResultsRefused(
            [{"code": "invalid", "field": "idempotency_key", "message": f"1 to {MAX_CI_KEY_CHARS} characters."}]
        )
    if set_version.golden_set.agent_id != version.agent_id:
        raise CiResultsRefused(
            [{"code": "invalid", "field": "golden_set", "message": "This golden set belongs to another agent."}]
        )
    normalised = [_ci_normalise(item) for item in results]
    digest = _ci_digest(version=version, set_version=set_version, results=normalised, commit_sha=commit_sha)
    key = _ci_key(version.agent_id, idempotency_key)
    existing = EvalRun.objects.filter(idempotency_key=key).first()
    if existing:
        return _ci_replay(existing, digest), False

    # Locked like a console edit, so no case can be added between checking and freezing.
    set_version = GoldenSetVersion.objects.select_for_update().get(pk=set_version.pk)
    cases = {c.key: c for c in set_version.cases.all()}
    if not cases:
        raise CiResultsRefused(
            [{"code": "invalid", "field": "golden_set_version", "message": "This golden-set version has no cases."}]
        )
    errors = []
    seen: dict[str, int] = {}
    for index, item in enumerate(normalised):
        case_key = item["case"]
        if case_key not in cases:
            errors.append(
                {
                    "code": "unknown_case",
                    "field": f"results[{index}].case",
                    "message": f"Golden set version {set_version.number} has no case {case_key!r}.",
                }
            )
        elif case_key in seen:
            errors.append(
                {
                    "code": "duplicate_case",
                    "field": f"results[{index}].case",
                    "message": f"Case {case_key!r} is reported twice (first at results[{seen[case_key]}]).",
                }
            )
        else:
            seen[case_key] = index
    missing = [k for k in cases if k not in seen]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        errors.append(
            {
                "code": "missing_cases",
                "field": "results",
                "message": f"Every case must be reported; no result for: {shown}.",
            }
        )
    if errors:
        raise CiResultsRefused(errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            run = EvalRun.objects.create(
                agent=version.agent,
                version=version,
                set_version=set_version,
                idempotency_key=key,
                source=RunSource.CI,
                status=RunStatus.RUNNING,
                total_cases=len(cases),
                threshold_pct=version.agent.success_threshold_pct,
                created_by=user,
                commit_sha=commit_sha,
                request_digest=digest,
                started_at=now,
            )
    except IntegrityError:
        # Two CI retries raced on one key; the first one's run is the run (if it says the same).
        return _ci_replay(EvalRun.objects.get(idempotency_key=key), digest), False
    setversion_freeze(set_version_id=set_version.pk)
    CaseResult.objects.bulk_create(
        [
            CaseResult(
                run=run,
                case=cases[item["case"]],
                case_key=item["case"],
                scorer=cases[item["case"]].scorer,
                output=item["output"],
                score=item["score"],
                passed=item["passed"],
                latency_ms=item["latency_ms"],
                cost_usd=item["cost_usd"],
                error=item["error"],
            )
            for item in normalised
        ]
    )
    _finish(
        run,
        passed_cases=sum(item["passed"] for item in normalised),
        cost=sum((item["cost_usd"] or Decimal(0) for item in normalised), Decimal(0)),
    )
    return run, True


# --- gates: does a version have a passing eval? -------------------------------------------


def evalrun_gate_pass_rate(run: EvalRun) -> tuple[Decimal | None, list[Judge]]:
    """The pass rate that counts towards gates, and the untrusted judges it excluded.

    Cases scored by a judge flagged untrusted do not count (neither for nor against) until
    the judge is recalibrated; a run left with no countable case has no gate pass rate."""
    if run.status != RunStatus.COMPLETED:
        return None, []
    untrusted = list(Judge.objects.filter(results__run=run, trusted=False).distinct())
    if not untrusted:
        return run.pass_rate_pct, []
    counted = run.results.exclude(judge__in=untrusted)
    total = counted.count()
    if total == 0:
        return None, untrusted
    return _pct(counted.filter(passed=True).count(), total), untrusted


def evalrun_counts_for_gate(run: EvalRun) -> bool:
    rate, _ = evalrun_gate_pass_rate(run)
    return rate is not None and rate >= run.threshold_pct


def version_passing_run(version: AgentVersion) -> EvalRun | None:
    """A completed run that passes the gate for this version: of each golden set the latest
    completed run counts (a later failure cancels an earlier pass)."""
    latest_per_set: dict[int, EvalRun] = {}
    for run in (
        EvalRun.objects.filter(version=version, status=RunStatus.COMPLETED)
        .select_related("set_version")
        .order_by("-finished_at", "-pk")
    ):
        latest_per_set.setdefault(run.set_version.golden_set_id, run)
    if not latest_per_set:
        return None
    runs = list(latest_per_set.values())
    if all(evalrun_counts_for_gate(r) for r in runs):
        return runs[0]
    return None


def evalrun_after_completion(*, run_id: int) -> None:
    """A passing run ticks "eval results meet threshold" on its version's open go-live and
    new-version requests (which applies an approved request whose checklist is then complete);
    where the item was already ticked by hand, an approved request is applied now that a run
    vouches for it."""
    run = EvalRun.objects.select_related("version").filter(pk=run_id).first()
    if run is None or not evalrun_counts_for_gate(run) or version_passing_run(run.version) is None:
        return
    for request in _open_requests_for(run.version):
        _tick(request, run)


def _open_requests_for(version: AgentVersion) -> list:
    try:
        from approvals.choices import OPEN_STATUSES
        from approvals.models import ApprovalRequest
    except ImportError:  # approvals not installed in this build
        logger.warning("approvals app not available; eval checklist not ticked")
        return []
    return list(ApprovalRequest.objects.filter(version=version, kind__in=GO_LIVE_KINDS, status__in=OPEN_STATUSES))


def _tick(request, run: EvalRun) -> None:
    try:
        tick = import_string("approvals.services.checklist_item_tick")
    except ImportError:
        logger.warning("approvals.services.checklist_item_tick not available; eval checklist not ticked")
        return
    evidence = settings.QUORUM_BASE_URL.rstrip("/") + run.get_absolute_url()
    try:
        from approvals.exceptions import RequestRefused
    except ImportError:
        RequestRefused = ValidationError  # noqa: N806 - stand-in when approvals has no such exception
    try:
        tick(request_id=request.pk, key=CHECKLIST_KEY, user=None, evidence=evidence, automatic=True)
    except (ValidationError, RequestRefused) as exc:  # closed meanwhile, or the item is not on this checklist
        if getattr(exc, "code", "") == "already_done":
            # Ticked by hand before the run passed: the item was never what held the request
            # back, our gate was. Now that a run vouches for the version, try applying again.
            _retry_apply(request)
        else:
            logger.info("eval checklist not ticked on request %s: %s", request.pk, exc)


def _retry_apply(request) -> None:
    try:
        apply = import_string("approvals.services.request_apply")
        from approvals.exceptions import RequestRefused
    except ImportError:
        return
    try:
        apply(request_id=request.pk, actor=None)
    except RequestRefused as exc:  # not approved yet (the decisions will apply it), or closed meanwhile
        logger.info("request %s not applied after a passing eval run: %s", request.pk, exc)


def request_created_eval_hook(request) -> None:
    """QUORUM_REQUEST_CREATED_HOOKS: a go-live/new-version request for a version that
    already has a passing run starts with the eval item ticked."""
    if getattr(request, "kind", None) not in GO_LIVE_KINDS or not getattr(request, "version_id", None):
        return
    run = version_passing_run(request.version)
    if run is not None:
        _tick(request, run)


def apply_gate_eval(request) -> str | None:
    """QUORUM_APPLY_GATES: no version goes live (or replaces the live one) without a passing
    eval run (trusted scorers only)."""
    if getattr(request, "kind", None) not in GO_LIVE_KINDS:
        return None
    version = getattr(request, "version", None)
    if version is None:
        return "No agent version is attached to this request, so no eval run can vouch for it."
    if version_passing_run(version) is None:
        return f"No passing eval run for version {version.label}."
    return None


# --- judge calibration --------------------------------------------------------------------


def judge_min_sample() -> int:
    return int(getattr(settings, "QUORUM_EVAL_JUDGE_MIN_SAMPLE", 10))


@transaction.atomic
def humanrating_record(*, result_id: int, rater, human_passed: bool, note: str = "") -> HumanRating:
    """A person's verdict on one judged case (one per person; a second one replaces the first),
    then the judge's agreement is recomputed."""
    result = CaseResult.objects.select_related("judge").get(pk=result_id)
    if result.judge_id is None:
        raise ValidationError("Only cases scored by a judge can be rated.")
    rating, _ = HumanRating.objects.update_or_create(
        result=result, rater=rater, defaults={"human_passed": human_passed, "note": note[:500]}
    )
    judge_recalibrate(judge_id=result.judge_id)
    return rating


def judge_agreement(ratings: list[tuple[bool, bool]]) -> Decimal | None:
    """Share of (judge verdict, human verdict) pairs that agree, in percent."""
    if not ratings:
        return None
    return _pct(sum(1 for judge, human in ratings if judge == human), len(ratings))


@transaction.atomic
def judge_recalibrate(*, judge_id: int) -> Judge:
    """Agreement over the judge's most recent human ratings (a window, so a fixed judge can
    earn trust back). Below 80 % with enough ratings the judge is untrusted."""
    judge = Judge.objects.select_for_update().get(pk=judge_id)
    window = int(getattr(settings, "QUORUM_EVAL_JUDGE_WINDOW", 100))
    pairs = list(
        HumanRating.objects.filter(result__judge=judge)
        .order_by("-created_at", "-pk")
        .values_list("result__passed", "human_passed")[:window]
    )
    judge.sample_size = len(pairs)
    judge.agreement_pct = judge_agreement(pairs)
    if judge.sample_size >= judge_min_sample():
        judge.trusted = judge.agreement_pct >= AGREEMENT_BAR_PCT
    judge.calibrated_at = timezone.now()
    judge.save()
    return judge


def current_judge() -> Judge | None:
    identity = judge_identity()
    if identity is None:
        return None
    return Judge.objects.filter(name=identity[0]).first()


# --- drift checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    metric: str
    summary: str
    statistic: str
    value: float | None
    p_value: float | None
    threshold: str
    evidence: dict


@dataclass(frozen=True)
class DriftVerdict:
    breaches: list[Breach]
    # Metrics with enough data that were found healthy: their open alerts may clear.
    healthy: list[str]


def driftpolicy_for(agent: Agent):
    """The agent's drift policy, created with the playbook defaults on first use."""

    policy, _ = DriftPolicy.objects.get_or_create(agent=agent)
    return policy


@transaction.atomic
def driftpolicy_update(*, agent: Agent, user, **fields) -> DriftPolicy:
    """Change an agent's drift policy. Only whoever may change the agent (its owners, the
    governance board) may; the model's validators and constraints decide what is valid, and an
    invalid change saves nothing. Locked like a drift check, so a check never sees half a policy."""
    if not user_can_edit_agent(user, agent):
        raise PermissionDenied(f"You may not change the drift policy of {agent.name}.")
    DriftPolicy.objects.get_or_create(agent=agent)
    policy = DriftPolicy.objects.select_for_update().get(agent=agent)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy


def _rate(x: int, n: int) -> float:
    return x / n if n else 0.0


def _points(value: float) -> float:
    return round(value * 100, 2)


def drift_evaluate(
    *, policy, success_threshold_pct: Decimal, baseline, recent, error_baseline, error_recent
) -> DriftVerdict:
    """Compare a recent window with a baseline, metric by metric.

    A rate breaches only when the change is both large (the policy's points) and unlikely
    to be noise (one-sided two-proportion z-test at the policy's significance, each window
    holding at least ``min_samples`` runs). The outcome mix needs a significant chi-square
    and a PSI past the threshold; cost and latency a relative rise past the threshold."""

    alpha = float(policy.significance)
    n_min = policy.min_samples
    breaches: list[Breach] = []
    healthy: list[str] = []
    windows = {"baseline": baseline.as_evidence(), "recent": recent.as_evidence()}
    enough = baseline.runs >= n_min and recent.runs >= n_min

    def rate_check(metric, x_b, x_r, limit_points, worse, label, window_pair):
        nb, nr = window_pair[0].runs, window_pair[1].runs
        if nb < n_min or nr < n_min:
            return
        pb, pr = _rate(x_b, nb), _rate(x_r, nr)
        z, p_rise = two_proportion_z(x_b, nb, x_r, nr)
        change = (pr - pb) if worse == "rise" else (pb - pr)
        p = p_rise if worse == "rise" else 1 - p_rise
        if _points(change) > float(limit_points) and p < alpha:
            breaches.append(
                Breach(
                    metric=metric,
                    summary=f"{label} {'rose' if worse == 'rise' else 'dropped'} {_points(change):.1f} points "
                    f"({_points(pb):.1f} % → {_points(pr):.1f} %)",
                    statistic="two-proportion z",
                    value=round(z, 4),
                    p_value=p,
                    threshold=f"{worse} > {limit_points} points and p < {policy.significance}",
                    evidence={
                        "windows": {
                            "baseline": window_pair[0].as_evidence(),
                            "recent": window_pair[1].as_evidence(),
                        },
                        "counts": {"baseline": [x_b, nb], "recent": [x_r, nr]},
                        "rates_pct": {"baseline": _points(pb), "recent": _points(pr)},
                        "change_points": _points(change),
                        "statistic": {"name": "z", "value": round(z, 4), "p_value": p},
                        "threshold": {"points": str(limit_points), "significance": str(policy.significance)},
                        "min_samples": n_min,
                    },
                )
            )
        else:
            healthy.append(metric)

    rate_check(
        DriftMetric.CONTAINMENT,
        baseline.resolved,
        recent.resolved,
        policy.containment_drop_points,
        "drop",
        "Containment",
        (baseline, recent),
    )
    rate_check(
        DriftMetric.ESCALATION,
        baseline.escalated,
        recent.escalated,
        policy.escalation_rise_points,
        "rise",
        "Escalation rate",
        (baseline, recent),
    )
    rate_check(
        DriftMetric.ERROR_RATE,
        error_baseline.errors,
        error_recent.errors,
        policy.error_rise_points,
        "rise",
        "Error rate",
        (error_baseline, error_recent),
    )

    if recent.runs >= n_min:
        # Confidently below the bar: even the upper confidence bound is under the threshold.
        _low, high = wilson_interval(recent.resolved, recent.runs, confidence=1 - 2 * alpha)
        threshold = float(success_threshold_pct) / 100
        if high < threshold:
            rate = _rate(recent.resolved, recent.runs)
            breaches.append(
                Breach(
                    metric=DriftMetric.TASK_SUCCESS,
                    summary=f"Task success {_points(rate):.1f} % is under the threshold {success_threshold_pct} %",
                    statistic="Wilson upper bound",
                    value=round(high, 6),
                    p_value=None,
                    threshold=f"upper {100 * (1 - alpha):g} % bound < {success_threshold_pct} %",
                    evidence={
                        "windows": {"recent": recent.as_evidence()},
                        "counts": {"recent": [recent.resolved, recent.runs]},
                        "rates_pct": {"recent": _points(rate)},
                        "statistic": {"name": "wilson_upper", "value": round(high, 6)},
                        "threshold": {"success_pct": str(success_threshold_pct), "significance": str(alpha)},
                    },
                )
            )
        else:
            healthy.append(DriftMetric.TASK_SUCCESS)

    if enough:
        counts_b = [baseline.outcomes.get(o, 0) for o in OUTCOMES]
        counts_r = [recent.outcomes.get(o, 0) for o in OUTCOMES]
        chi2, dof, p = chi_square_homogeneity(counts_b, counts_r)
        psi = population_stability_index(counts_b, counts_r)
        if p < alpha and psi > float(policy.outcome_mix_psi):
            breaches.append(
                Breach(
                    metric=DriftMetric.OUTCOME_MIX,
                    summary=f"Outcome mix shifted (PSI {psi:.2f}, chi-square p = {p:.2g})",
                    statistic="chi-square + PSI",
                    value=round(chi2, 4),
                    p_value=p,
                    threshold=f"p < {policy.significance} and PSI > {policy.outcome_mix_psi}",
                    evidence={
                        "windows": windows,
                        "counts": {"outcomes": list(OUTCOMES), "baseline": counts_b, "recent": counts_r},
                        "statistic": {"name": "chi2", "value": round(chi2, 4), "dof": dof, "p_value": p, "psi": psi},
                        "threshold": {"psi": str(policy.outcome_mix_psi), "significance": str(policy.significance)},
                    },
                )
            )
        else:
            healthy.append(DriftMetric.OUTCOME_MIX)

        for metric, label, b_value, r_value, limit, unit in (
            (
                DriftMetric.COST_PER_RUN,
                "Cost per run",
                baseline.cost_per_run_usd,
                recent.cost_per_run_usd,
                policy.cost_rise_pct,
                "USD",
            ),
            (
                DriftMetric.LATENCY_P95,
                "Latency p95",
                baseline.latency_p95_ms,
                recent.latency_p95_ms,
                policy.latency_rise_pct,
                "ms",
            ),
        ):
            change = relative_change_pct(
                float(b_value) if b_value is not None else None, float(r_value) if r_value is not None else None
            )
            if change is None:
                continue
            if change > float(limit):
                breaches.append(
                    Breach(
                        metric=metric,
                        summary=f"{label} rose {change:.0f} % ({float(b_value):.4g} → {float(r_value):.4g} {unit})",
                        statistic="relative change",
                        value=round(change, 2),
                        p_value=None,
                        threshold=f"rise > {limit} %",
                        evidence={
                            "windows": windows,
                            "values": {"baseline": float(b_value), "recent": float(r_value), "unit": unit},
                            "statistic": {"name": "relative_change_pct", "value": round(change, 2)},
                            "threshold": {"rise_pct": str(limit)},
                        },
                    )
                )
            else:
                healthy.append(metric)
    return DriftVerdict(breaches=breaches, healthy=healthy)


def drift_check_agent(*, agent_id: int, now=None) -> list:
    """Run the drift check of one agent and act on breaches.

    A breach records (or adds to) the metric's open alert, opens a SEV2 incident or links the
    open one, and applies the policy's automatic action (canary share to 0, or kill switch).
    Checks of one agent are serialized on the policy row, so two workers never double-page."""

    now = now or timezone.now()
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        return []
    policy = driftpolicy_for(agent)
    if not policy.enabled:
        return []
    recent_start = now - timedelta(minutes=policy.containment_window_minutes)
    error_start = now - timedelta(minutes=policy.error_window_minutes)
    baseline_span = timedelta(hours=policy.baseline_hours)
    verdict = drift_evaluate(
        policy=policy,
        success_threshold_pct=agent.success_threshold_pct,
        baseline=telemetry_window(agent_id=agent.pk, start=recent_start - baseline_span, end=recent_start),
        recent=telemetry_window(agent_id=agent.pk, start=recent_start, end=now),
        error_baseline=telemetry_window(
            agent_id=agent.pk, start=error_start - baseline_span, end=error_start, with_latency=False
        ),
        error_recent=telemetry_window(agent_id=agent.pk, start=error_start, end=now, with_latency=False),
    )
    new_alerts: list[DriftAlert] = []
    with transaction.atomic():
        policy = DriftPolicy.objects.select_for_update().get(pk=policy.pk)
        open_alerts = {
            a.metric: a
            for a in DriftAlert.objects.select_for_update().filter(agent=agent).exclude(status=AlertStatus.RESOLVED)
        }
        for breach in verdict.breaches:
            alert = open_alerts.get(breach.metric)
            if alert is not None:
                alert.occurrences += 1
                alert.last_seen_at = now
                alert.evidence = breach.evidence
                alert.save(update_fields=["occurrences", "last_seen_at", "evidence"])
                continue
            alert = DriftAlert.objects.create(
                agent=agent,
                metric=breach.metric,
                summary=breach.summary[:300],
                evidence=breach.evidence,
                statistic=breach.statistic,
                statistic_value=breach.value,
                p_value=breach.p_value,
                threshold=breach.threshold[:120],
                detected_at=now,
                last_seen_at=now,
            )
            new_alerts.append(alert)
        for metric in verdict.healthy:
            alert = open_alerts.get(metric)
            if alert is not None and alert.status == AlertStatus.OPEN and alert.last_seen_at < now:
                # Cleared by the data: the metric is back inside its bounds.
                alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
                alert.save(update_fields=["status", "resolved_at"])
        if new_alerts:
            incident_id = _drift_incident(agent=agent, alerts=new_alerts)
            action = _drift_action(agent=agent, action=policy.action)
            DriftAlert.objects.filter(pk__in=[a.pk for a in new_alerts]).update(
                incident_id=incident_id, action_taken=action
            )
            for alert in new_alerts:
                alert.incident_id, alert.action_taken = incident_id, action
    return new_alerts


def _drift_incident(*, agent: Agent, alerts: list) -> int | None:

    try:
        open_or_link = import_string("incidents.services.incident_open_or_link")
    except ImportError:
        logger.error("incidents.services.incident_open_or_link not available; drift alert without incident")
        return None
    cost_only = all(a.metric == DriftMetric.COST_PER_RUN for a in alerts)
    incident, _created = open_or_link(
        agent=agent,
        severity="sev2",
        title=f"Drift on {agent.name}: " + "; ".join(a.get_metric_display() for a in alerts)[:150],
        failure_mode="cost_anomaly" if cost_only else "quality_regression",
        detection_source="drift_check",
        summary="\n".join(
            f"{a.summary} — {settings.QUORUM_BASE_URL.rstrip('/')}{a.get_absolute_url()}" for a in alerts
        ),
    )
    return incident.pk


def _drift_action(*, agent: Agent, action: str) -> str:

    current = Agent.objects.get(pk=agent.pk)
    if action == DriftAction.CANARY_ROLLBACK:
        if current.canary_share_pct != 0:
            agent_controls_update(agent_id=agent.pk, canary_share_pct=Decimal("0"), actor=None)
        return action
    if action == DriftAction.KILL_SWITCH:
        if current.side_effects_enabled:
            agent_controls_update(agent_id=agent.pk, side_effects_enabled=False, actor=None)
        return action
    return DriftAction.NONE


@transaction.atomic
def driftalert_set_status(*, alert_id: int, status: str, user) -> Any:
    """Acknowledge or resolve an alert (compare-and-set: an already resolved alert stays resolved)."""

    if status not in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED):
        raise ValidationError("An alert can be acknowledged or resolved.")
    alert = DriftAlert.objects.select_for_update().get(pk=alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise ValidationError("This alert is already resolved.")
    alert.status = status
    if status == AlertStatus.RESOLVED:
        alert.resolved_at, alert.resolved_by = timezone.now(), user
    alert.save()
    return alert


def production_agent_ids(tiers: list[int] | None = None) -> list[int]:
    qs = Agent.objects.filter(status="production")
    if tiers:
        qs = qs.filter(risk_tier__in=tiers)
    return list(qs.values_list("pk", flat=True))


def scheduled_evals_request(*, tiers: list[int], period: str, now=None) -> list[EvalRun]:
    """Queue the scheduled evals of production agents in ``tiers``: the deployed version on the
    latest version of each golden set. The key names the period, so a beat tick delivered
    twice (or a retried task) queues nothing new."""
    now = now or timezone.now()
    stamp = now.strftime("%G-W%V") if period == "week" else now.strftime("%Y-%m-%d")
    created = []
    for agent in Agent.objects.filter(pk__in=production_agent_ids(tiers)).select_related("eval_target"):
        version = agent.deployed_version
        if version is None or not hasattr(agent, "eval_target"):
            continue
        for golden_set in agent.golden_sets.all():
            latest = golden_set.versions.order_by("-number").first()
            if latest is None or not latest.cases.exists():
                continue
            run, was_created = evalrun_request(
                version=version,
                set_version=latest,
                source=RunSource.SCHEDULE,
                idempotency_key=f"schedule:{period}:{stamp}:{version.pk}:{latest.pk}",
            )
            if was_created:
                created.append(run)
    return created
