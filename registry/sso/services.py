"""What a single sign-on does to Quorum's people, the same for OpenID Connect and SAML.

Rules (each stated on its function):
* an IdP account ``(issuer, subject)`` is one local user, linked at first sign-in by subject, or by
  an e-mail the IdP says is verified; never by an unverified e-mail;
* a deactivated local user cannot sign in through the IdP either;
* the IdP's groups decide the user's roles (when a role map is configured) and the memberships of
  the teams named in the team map, at every sign-in, so a removal at the IdP is a removal here at
  the next sign-in; each change is audited (``registry/rights_audit.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..assurance import record_sign_in
from ..models import ExternalIdentity, Team
from ..roles import ALL_ROLES


def sso_error(request, message: str, status: int = 403) -> HttpResponse:
    """The page of a refused single sign-on: the reason, and the way back to the sign-in page."""
    return render(request, "registration/sso_error.html", {"message": message}, status=status)


class SignInRefused(Exception):
    """The IdP's answer is not good enough to sign anybody in; the message says why, for the person."""


@dataclass(frozen=True)
class IdpAccount:
    """What an identity provider vouched for, already verified (signature, issuer, audience, nonce)."""

    provider: str  # "oidc" or "saml"
    issuer: str
    subject: str
    email: str = ""
    email_verified: bool = False
    username_hint: str = ""
    first_name: str = ""
    last_name: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)
    acr: str = ""
    amr: tuple[str, ...] = field(default_factory=tuple)

    @property
    def strong(self) -> bool:
        """The IdP says the person used more than one factor (acr or amr in the configured lists)."""
        if self.acr and self.acr in settings.QUORUM_STRONG_ACR_VALUES:
            return True
        return bool(set(self.amr) & set(settings.QUORUM_STRONG_AMR_VALUES))


def _free_username(hint: str) -> str:
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", hint)[:140] or "sso-user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _user_for_account(account: IdpAccount):
    """The local user of ``account``: linked before, or found by verified e-mail, or new.

    Linking by e-mail happens only when the IdP says the address is verified (anyone can type an
    unverified address, and would take over the account that owns it) and exactly one local
    account has it; an unverified address that belongs to a local account is refused."""
    User = get_user_model()
    link = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=account.issuer, subject=account.subject)
        .first()
    )
    if link is not None:
        return link.user, link
    if account.email:
        owners = list(User.objects.filter(email__iexact=account.email)[:2])
        if owners and not account.email_verified:
            raise SignInRefused(
                "Your identity provider has not verified your e-mail address, and a Quorum account already "
                "uses it; ask an administrator to link your account."
            )
        if len(owners) > 1:
            raise SignInRefused("Several Quorum accounts use your e-mail address; ask an administrator to link yours.")
        if owners:
            return owners[0], None
    user = User.objects.create_user(
        _free_username(account.username_hint or account.email.split("@")[0] or account.subject),
        email=account.email if account.email_verified else "",
        first_name=account.first_name[:150],
        last_name=account.last_name[:150],
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user, None


def sso_memberships_sync(*, user, idp_groups: Iterable[str]) -> None:
    """Make ``user``'s roles and team memberships what the IdP's groups say.

    Roles: with ``QUORUM_SSO_ROLE_MAP`` set, the user holds exactly the roles their groups map to
    (every role in ``registry/roles.py``; other Django groups are left alone); without a map roles
    stay managed in Quorum. Teams: only the teams named in ``QUORUM_SSO_TEAM_MAP`` are managed.
    The m2m changes are recorded by auditlog (``rights_audit``)."""
    groups = set(idp_groups)
    role_map: dict[str, str] = settings.QUORUM_SSO_ROLE_MAP
    if role_map:
        wanted = {role for group, role in role_map.items() if group in groups and role in ALL_ROLES}
        held = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        if held - wanted:
            user.groups.remove(*Group.objects.filter(name__in=held - wanted))
        if wanted - held:
            user.groups.add(*Group.objects.filter(name__in=wanted - held))
    team_map: dict[str, str] = settings.QUORUM_SSO_TEAM_MAP
    for team in Team.objects.filter(slug__in=set(team_map.values())):
        member = any(group in groups and slug == team.slug for group, slug in team_map.items())
        if member:
            team.members.add(user)
        else:
            team.members.remove(user)


def sso_sign_in_resolve(*, account: IdpAccount):
    """The local user ``account`` signs in as, linked, refreshed and with the IdP's groups applied.

    Refused (:class:`SignInRefused`) for a deactivated user and for an unverified e-mail that an
    existing account uses. Runs in one transaction with the link row locked: two first sign-ins of
    one IdP account racing would otherwise both create a user (the unique (issuer, subject)
    constraint turns the loser into a refusal rather than a second account)."""
    try:
        with transaction.atomic():
            user, link = _user_for_account(account)
            if not user.is_active:
                raise SignInRefused("Your Quorum account is deactivated; ask an administrator.")
            now = timezone.now()
            if link is None:
                link = ExternalIdentity.objects.create(
                    user=user, provider=account.provider, issuer=account.issuer, subject=account.subject, first_seen=now
                )
            link.email, link.email_verified, link.last_seen = account.email, account.email_verified, now
            link.save(update_fields=["email", "email_verified", "last_seen"])
            sso_memberships_sync(user=user, idp_groups=account.groups)
    except IntegrityError as exc:
        raise SignInRefused("Another sign-in with your account happened at the same moment; please try again.") from exc
    return user


def sso_sign_in_record(*, request, user, account: IdpAccount) -> None:
    """After ``login()``: the session's assurance (registry/assurance.py) says the IdP signed it in,
    with its acr/amr, and whether that means multi-factor."""
    record_sign_in(
        request,
        user,
        method=account.provider,
        mfa=account.strong,
        acr=account.acr,
        amr=list(account.amr),
        subject=f"{account.issuer}|{account.subject}",
    )
