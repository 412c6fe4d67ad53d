"""Lifecycle basics without SCIM (issue 20 item 5): what a deactivated account means.

* A deactivated person decides nothing from that moment (``approvals.eligibility.decide_refusal``
  refuses inactive accounts) and their approvals on still-open requests stop counting
  (``approvals.services.approvals_tally``): the requests stay open and need another decider.
* An agent whose owner or sponsor is inactive is **orphaned**: flagged on its card and on the home
  page (computed from the accounts, so always current), and one review is opened for it (kind
  "orphaned") — once: a database constraint allows one open orphaned review per agent.

Deactivation is noticed from the account's ``post_save`` (connected in ``RegistryConfig.ready``),
so the admin, a management command and single sign-on (the IdP removing someone) all count."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .choices import AgentStatus, ReviewKind, ReviewStatus
from .models import Agent, Review
from .reviews import review_open
from .selectors import agents_visible_to

ORPHAN_REVIEW_DUE_DAYS = 14
ORPHAN_PERIOD_DAYS = 30


def agents_orphaned() -> QuerySet[Agent]:
    """Agents (not retired) whose owner or sponsor account is inactive."""
    return (
        Agent.objects.exclude(status=AgentStatus.RETIRED)
        .filter(Q(owner__is_active=False) | Q(sponsor__is_active=False))
        .select_related("owner", "sponsor", "owner_team")
    )


def orphan_reason(agent: Agent) -> str | None:
    """Why ``agent`` is orphaned, in words, or None."""
    if agent.status == AgentStatus.RETIRED:
        return None
    gone = []
    if not agent.owner.is_active:
        gone.append(f"its owner {agent.owner.get_full_name() or agent.owner.get_username()}")
    if agent.sponsor_id and not agent.sponsor.is_active:
        gone.append(f"its sponsor {agent.sponsor.get_full_name() or agent.sponsor.get_username()}")
    if not gone:
        return None
    return f"{' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer active"


def orphan_review_open(*, agent: Agent) -> Review | None:
    """Open the orphaned-agent review of ``agent`` unless one is open already; returns the review
    opened by this call, or None. Race: two saves of the same account at once may both try; the
    partial unique constraint lets one insert win and the other find it (savepoint, no error)."""
    reason = orphan_reason(agent)
    if reason is None:
        return None
    if Review.objects.filter(agent=agent, kind=ReviewKind.ORPHANED, status=ReviewStatus.OPEN).exists():
        return None
    today = timezone.localdate()
    try:
        with transaction.atomic():
            review, _ = review_open(
                agent=agent,
                kind=ReviewKind.ORPHANED,
                due_on=today + timedelta(days=ORPHAN_REVIEW_DUE_DAYS),
                reason=f"Orphaned: {reason}. Name a new owner or sponsor, or retire the agent."[:300],
                period_start=today - timedelta(days=ORPHAN_PERIOD_DAYS),
                period_end=today,
            )
    except IntegrityError:
        return None  # the other save opened it
    return review


def user_deactivated(*, user) -> list[Review]:
    """``user`` is inactive: open the review of every agent it leaves orphaned (once each)."""
    agents = agents_orphaned().filter(Q(owner=user) | Q(sponsor=user))
    return [review for agent in agents if (review := orphan_review_open(agent=agent)) is not None]


def account_saved(sender, instance, created: bool, **kwargs) -> None:
    """``post_save`` receiver on the user model: an inactive account orphans its agents."""
    if not created and not instance.is_active:
        user_deactivated(user=instance)


# --- the flag on the card and the home page -------------------------------------------------------


def orphaned_card_section(request, agent: Agent) -> dict | None:
    reason = orphan_reason(agent)
    if reason is None:
        return None
    review = Review.objects.filter(agent=agent, kind=ReviewKind.ORPHANED, status=ReviewStatus.OPEN).first()
    return {"template": "registry/panels/orphaned_card.html", "reason": reason, "review": review}


def orphaned_home_panel(request) -> dict | None:
    visible = agents_visible_to(request.user).values("pk")
    agents = list(agents_orphaned().filter(pk__in=visible).order_by("name")[:20])
    if not agents:
        return None
    return {
        "template": "registry/panels/orphaned_home.html",
        "orphans": [(agent, orphan_reason(agent)) for agent in agents],
    }
