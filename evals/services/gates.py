"""Gates: does a version have a passing eval run? Ticking and applying go-live requests."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError

from approvals.choices import RELEASE_KINDS
from approvals.exceptions import RequestRefused
from approvals.selectors import requests_open_for_agent
from approvals.services import checklist_item_tick, request_apply
from registry.models import AgentVersion

from ..choices import RunStatus
from ..models import (
    EvalRun,
    Judge,
)
from .percent import pct

logger = logging.getLogger(__name__)


CHECKLIST_KEY = "eval_threshold"


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
    return pct(counted.filter(passed=True).count(), total), untrusted


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
    return list(requests_open_for_agent(version.agent).filter(version=version, kind__in=RELEASE_KINDS))


def _tick(request, run: EvalRun) -> None:
    evidence = settings.QUORUM_BASE_URL.rstrip("/") + run.get_absolute_url()
    try:
        checklist_item_tick(request_id=request.pk, key=CHECKLIST_KEY, user=None, evidence=evidence, automatic=True)
    except (ValidationError, RequestRefused) as exc:  # closed meanwhile, or the item is not on this checklist
        if getattr(exc, "code", "") == "already_done":
            # Ticked by hand before the run passed: the item was never what held the request
            # back, our gate was. Now that a run vouches for the version, try applying again.
            _retry_apply(request)
        else:
            logger.info("eval checklist not ticked on request %s: %s", request.pk, exc)


def _retry_apply(request) -> None:
    try:
        request_apply(request_id=request.pk, actor=None)
    except RequestRefused as exc:  # not approved yet (the decisions will apply it), or closed meanwhile
        logger.info("request %s not applied after a passing eval run: %s", request.pk, exc)


def request_created_eval_hook(request) -> None:
    """Request-created hook (registered in ``EvalsConfig.ready``): a go-live/new-version request for a version that
    already has a passing run starts with the eval item ticked."""
    if getattr(request, "kind", None) not in RELEASE_KINDS or not getattr(request, "version_id", None):
        return
    run = version_passing_run(request.version)
    if run is not None:
        _tick(request, run)


def apply_gate_eval(request) -> str | None:
    """Apply gate (registered in ``EvalsConfig.ready``): no version goes live (or replaces the
    live one) without a passing eval run (trusted scorers only)."""
    if getattr(request, "kind", None) not in RELEASE_KINDS:
        return None
    version = getattr(request, "version", None)
    if version is None:
        return "No agent version is attached to this request, so no eval run can vouch for it."
    if version_passing_run(version) is None:
        return f"No passing eval run for version {version.label}."
    return None
