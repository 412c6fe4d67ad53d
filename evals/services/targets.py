"""Eval targets: the endpoint an agent is evaluated through."""

from __future__ import annotations

from django.db import transaction

from registry.models import Agent

from ..models import (
    EvalTarget,
)


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
