"""Judge calibration: human ratings, agreement, and trust."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import (
    CaseResult,
    HumanRating,
    Judge,
)
from ..scorers import judge_identity
from .percent import pct

AGREEMENT_BAR_PCT = Decimal("80")


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
    return pct(sum(1 for judge, human in ratings if judge == human), len(ratings))


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
