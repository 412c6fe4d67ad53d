"""Reads of the audit trail's pages: what is kept how long, and the legal holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from registry.models import Agent
from registry.selectors import agents_visible_to

from .choices import DEFAULT_DAYS, WHAT_GOES, RecordFamily
from .models import LegalHold, PurgeRun, RetentionRule
from .services import retention_days


@dataclass
class RetentionLine:
    family: str
    label: str
    days: int
    default_days: int
    oldest_kept: datetime  # records from before this are purged at the next run
    kept_until: datetime  # a record made now is kept until then
    what_goes: str
    rule: RetentionRule | None


def retention_overview(now: datetime | None = None) -> list[RetentionLine]:
    """Per family: how long it is kept, from when records are kept today, and until when a
    record made now is kept."""
    now = now or timezone.now()
    rules = {r.family: r for r in RetentionRule.objects.select_related("updated_by")}
    lines = []
    for family, days in retention_days().items():
        lines.append(
            RetentionLine(
                family=family,
                label=RecordFamily(family).label,
                days=days,
                default_days=DEFAULT_DAYS[family],
                oldest_kept=now - timedelta(days=days),
                kept_until=now + timedelta(days=days),
                what_goes=WHAT_GOES[family],
                rule=rules.get(family),
            )
        )
    return lines


def holds_visible_to(user) -> QuerySet[LegalHold]:
    return (
        LegalHold.objects.filter(agent__in=agents_visible_to(user).values("pk"))
        .select_related("agent", "set_by", "released_by")
        .order_by("released_at", "-set_at")
    )


def active_hold(agent: Agent) -> LegalHold | None:
    return LegalHold.objects.filter(agent=agent, released_at__isnull=True).select_related("set_by").first()


def last_purge() -> PurgeRun | None:
    return PurgeRun.objects.order_by("-started_at").first()
