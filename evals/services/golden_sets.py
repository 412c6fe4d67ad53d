"""Golden sets: versions, their freezing, and the cases of an editable version."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from registry.models import Agent

from ..choices import Scorer
from ..models import (
    CASE_KEY,
    GoldenCase,
    GoldenSet,
    GoldenSetVersion,
)
from ..scorers import case_definition_errors

MAX_CASES_PER_VERSION = 5000


MAX_INPUT_CHARS = 64 * 1024


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
