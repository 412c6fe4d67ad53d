"""Eval results computed elsewhere (CI), recorded as completed runs."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.canonical import canonical_sha256
from registry.models import Agent, AgentVersion
from registry.permissions import user_can_edit_agent

from ..choices import RunSource, RunStatus
from ..models import (
    CaseResult,
    EvalRun,
    GoldenSetVersion,
)
from .golden_sets import setversion_freeze
from .runs import _finish

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
    return canonical_sha256(document)


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
