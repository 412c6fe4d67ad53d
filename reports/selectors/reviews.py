"""The review calendar: open reviews and scheduled ones not opened yet, due in a range."""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from registry.choices import AgentStatus, ReviewKind, ReviewStatus
from registry.models import Agent, Review
from registry.selectors import agents_visible_to


def reviews_open(*, user) -> QuerySet[Review]:
    return (
        Review.objects.filter(agent__in=agents_visible_to(user).values("pk"), status=ReviewStatus.OPEN)
        .select_related("agent", "agent__owner")
        .order_by("due_on")
    )


@dataclass
class DueItem:
    """A review that is due: an open review record, or an agent whose next scheduled review
    has not been opened yet (the beat task opens it on the day)."""

    agent: Agent
    due_on: date
    kind: str
    review: Review | None

    @property
    def is_overdue(self) -> bool:
        return self.due_on < timezone.localdate()


def reviews_due(*, user, start: date | None = None, end: date | None = None) -> list[DueItem]:
    """Open reviews plus scheduled reviews not yet opened, due in [start, end) if given."""
    items: list[DueItem] = []
    open_reviews = reviews_open(user=user)
    if start:
        open_reviews = open_reviews.filter(due_on__gte=start)
    if end:
        open_reviews = open_reviews.filter(due_on__lt=end)
    opened_due = set()
    for review in open_reviews:
        items.append(DueItem(agent=review.agent, due_on=review.due_on, kind=review.kind, review=review))
        if review.kind == ReviewKind.SCHEDULED:
            opened_due.add((review.agent_id, review.due_on))
    agents = agents_visible_to(user).exclude(status=AgentStatus.RETIRED).filter(next_review_due__isnull=False)
    if start:
        agents = agents.filter(next_review_due__gte=start)
    if end:
        agents = agents.filter(next_review_due__lt=end)
    for agent in agents:
        if (agent.pk, agent.next_review_due) not in opened_due:
            items.append(DueItem(agent=agent, due_on=agent.next_review_due, kind=ReviewKind.SCHEDULED, review=None))
    items.sort(key=lambda i: (i.due_on, i.agent.name))
    return items


def reviews_overdue(*, user, today: date) -> list[DueItem]:
    return [i for i in reviews_due(user=user, end=today) if i.due_on < today]


def calendar_weeks(*, year: int, month: int, items: list[DueItem]) -> list[list[dict]]:
    """A Monday-first month grid; each day carries the reviews due that day."""
    by_day: dict[date, list[DueItem]] = defaultdict(list)
    for item in items:
        by_day[item.due_on].append(item)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append([{"date": d, "in_month": d.month == month, "items": by_day.get(d, [])} for d in week])
    return weeks
