"""Who may decide an approval request: the rule, once.

A person may decide a request when they are signed in and active, are not its requester, hold
one of the roles its policy snapshot names, and hold ``registry.approve_agent`` globally or on
its agent. Their approval also counts as the tier-1 "governance board member outside the owning
team" when they are on the board and not a member of the agent's owning team.

Every place that asks goes through :func:`decide_refusal` — the decision service, "Apply now"
and checklist ticks (through ``approvals.services.approver_refusal``), the queue and the nav
badge (``approvals.selectors.requests_awaiting``) and the e-mail recipients
(``approvals.selectors.eligible_approvers``). Those load the facts their own way (one request,
a whole queue, every candidate) and hand them here; none restates the rule."""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.conf import settings

from registry import roles as role_names
from registry.assurance import Assurance
from registry.models import Agent


def decide_refusal(
    user,
    *,
    roles: Collection[str],
    may_approve_agent: Callable[[], bool],
    requester_id: int | None,
    eligible_roles: Collection[str],
    agent_name: str,
) -> str | None:
    """None if ``user`` may decide the request; otherwise the sentence saying why not.

    ``roles`` are the user's role (group) names; ``may_approve_agent`` answers whether they hold
    ``approve_agent`` globally or on the request's agent, asked only when the roles match (it
    may cost a query)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "Sign in to decide."
    if requester_id is not None and requester_id == user.pk:
        return "You requested this change; someone else must decide it."
    if not set(roles).intersection(eligible_roles) or not may_approve_agent():
        return f"You are not an approver for {agent_name}."
    return None


def is_board_outside_team(user, agent: Agent, roles: Collection[str]) -> bool:
    """Does this person's approval satisfy tier 1's "a governance-board member from outside the
    owning team"? (The owning team cannot wave its own agent through.)"""
    if agent is None:  # a fleet-wide request: no owning team to be outside of
        return role_names.GOVERNANCE_BOARD in roles
    return role_names.GOVERNANCE_BOARD in roles and not agent.owner_team.members.filter(pk=user.pk).exists()


# --- step-up: decisions that need a fresh multi-factor sign-in (issue 20) -------------------------


def step_up_needed(*, risk_tier: int | None, lowers_control: bool, kind_reason: str | None) -> str | None:
    """Why deciding this request needs a fresh strong authentication, or None when it does not:
    a tier-1 request, a kind that can lower a control, or the kind's own reason (a runtime action
    above the configured amount). Break-glass always needs it (``approvals.break_glass``)."""
    if not settings.QUORUM_STEP_UP_REQUIRED:
        return None
    if risk_tier == 1:
        return "Deciding a tier-1 request"
    if lowers_control:
        return "Deciding a request that can lower a control"
    return kind_reason


def step_up_refusal(needed: str | None, assurance: Assurance) -> str | None:
    """None when no step-up is needed or the session's sign-in is multi-factor and fresh (within
    ``QUORUM_STEP_UP_MINUTES``); otherwise the sentence saying what to do. An API token never
    carries a second factor (``current_assurance`` answers "none" for it), so such decisions
    cannot be made with a token."""
    if not needed or assurance.is_fresh_strong():
        return None
    minutes = settings.QUORUM_STEP_UP_MINUTES
    if assurance.strong:
        why = f"your last multi-factor verification is more than {minutes} minutes old"
    else:
        why = "this session was not verified with a second factor"
    return f"{needed} needs a multi-factor sign-in within the last {minutes} minutes; {why}. Verify again, then decide."


# --- one person, however many accounts (issue 20) -------------------------------------------------


def identity_keys(decision) -> set[tuple[str, str]]:
    """What ties a decision to a person beyond the account: the approver's e-mail address (set by
    an administrator) and the addresses their identity provider verified, the identity-provider
    subject ("issuer|subject") the session signed in with and every one linked to the account
    (``registry.ExternalIdentity``), and the WebAuthn credential that verified the session.
    Blank ones tie nothing. ``verified_emails``/``idp_subjects`` are attached by the tally."""
    keys = {("account", str(decision.approver_id))}
    email = (getattr(decision.approver, "email", "") or "").strip().lower()
    if email:
        keys.add(("e-mail", email))
    for email in getattr(decision, "verified_emails", ()):
        keys.add(("e-mail", email.strip().lower()))
    if decision.auth_subject:
        keys.add(("identity-provider subject", decision.auth_subject))
    for subject in getattr(decision, "idp_subjects", ()):
        keys.add(("identity-provider subject", subject))
    if decision.auth_credential:
        keys.add(("passkey", decision.auth_credential))
    return keys


def same_person_groups(decisions: list) -> list[list]:
    """Group decisions whose authors share any identity key (transitively): each group is one
    person's word, however many accounts it came from. Order follows the first decision of each."""
    groups: list[tuple[set, list]] = []
    for decision in decisions:
        keys = identity_keys(decision)
        joined = [g for g in groups if g[0] & keys]
        merged_keys, merged = set(keys), []
        for g in joined:
            merged_keys |= g[0]
            merged.extend(g[1])
            groups.remove(g)
        merged.append(decision)
        groups.append((merged_keys, merged))
    return [sorted(g[1], key=lambda d: (d.decided_at, d.pk)) for g in groups]
