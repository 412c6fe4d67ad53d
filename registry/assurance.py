"""How, and how recently, the person behind a console session authenticated (issue 20).

Every sign-in records it in the session: a password sign-in records method "password" (from the
``user_logged_in`` signal, connected in ``RegistryConfig.ready``); a second factor (TOTP, a
WebAuthn passkey, a recovery code) upgrades the session to multi-factor with a new time; an OIDC
or SAML sign-in records its identity provider's ``acr``/``amr`` and subject. ``current_assurance``
reads it back as a typed value that the approvals engine asks before a decision that needs a fresh
strong authentication (step-up, ``approvals/eligibility.py`` ``step_up_refusal``).

Levels follow NIST SP 800-63B's authenticator assurance levels, as far as Quorum can tell them:
``aal2`` when a second factor was verified here or the identity provider says so (an ``acr`` in
``QUORUM_STRONG_ACR_VALUES`` or an ``amr`` in ``QUORUM_STRONG_AMR_VALUES``), ``aal1`` for one factor,
``none`` when nothing was recorded (an API token, a session from before this module).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

SESSION_KEY = "quorum_assurance"

METHODS = ("password", "totp", "webauthn", "recovery", "oidc", "saml")
# The backends whose successful authenticate() means "a password was checked".
PASSWORD_BACKENDS = frozenset(
    {
        "django.contrib.auth.backends.ModelBackend",
        "registry.login_lockout.LoginLockoutBackend",
        "axes.backends.AxesStandaloneBackend",
    }
)

LEVEL_NONE = "none"
LEVEL_SINGLE = "aal1"
LEVEL_MULTI = "aal2"


@dataclass(frozen=True)
class Assurance:
    """How the session's user authenticated: method, when, and whether with more than one factor."""

    method: str = ""
    authenticated_at: datetime | None = None
    mfa: bool = False
    acr: str = ""
    amr: tuple[str, ...] = field(default_factory=tuple)
    subject: str = ""
    # SHA-256 (hex) of the WebAuthn credential that verified the session, if one did.
    credential: str = ""

    @property
    def strong(self) -> bool:
        """Multi-factor: verified here, or asserted by the identity provider's acr/amr."""
        if self.mfa:
            return True
        if self.acr and self.acr in settings.QUORUM_STRONG_ACR_VALUES:
            return True
        return bool(set(self.amr) & set(settings.QUORUM_STRONG_AMR_VALUES))

    @property
    def level(self) -> str:
        if not self.method or self.authenticated_at is None:
            return LEVEL_NONE
        return LEVEL_MULTI if self.strong else LEVEL_SINGLE

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.authenticated_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.authenticated_at).total_seconds()

    def is_fresh(self, *, minutes: int | None = None, now: datetime | None = None) -> bool:
        """Authenticated within ``minutes`` (default ``QUORUM_STEP_UP_MINUTES``)."""
        age = self.age_seconds(now)
        limit = settings.QUORUM_STEP_UP_MINUTES if minutes is None else minutes
        return age is not None and 0 <= age <= limit * 60

    def is_fresh_strong(self, *, minutes: int | None = None, now: datetime | None = None) -> bool:
        """What step-up asks for: a multi-factor authentication, recent enough."""
        return self.strong and self.is_fresh(minutes=minutes, now=now)


NO_ASSURANCE = Assurance()


def record_sign_in(
    request,
    user,
    *,
    method: str,
    mfa: bool,
    acr: str = "",
    amr: list[str] | None = None,
    subject: str = "",
    credential: str = "",
) -> None:
    """Store in ``request.session`` how and when ``user`` has just authenticated.

    Call it after ``login()`` (which rotates the session) and after each second-factor
    verification; the newest call wins, with the time of that call. A second factor verified for
    a session that was already multi-factor keeps it so."""
    if method not in METHODS:
        raise ValueError(f"unknown sign-in method {method!r}; one of {', '.join(METHODS)}")
    if request is None or not hasattr(request, "session"):
        return
    request.session[SESSION_KEY] = {
        "user_id": user.pk,
        "method": method,
        "mfa": bool(mfa),
        "acr": acr or "",
        "amr": list(amr or []),
        "subject": subject or "",
        "credential": credential or "",
        "at": time.time(),
    }


def current_assurance(request) -> Assurance:
    """The session's assurance; ``NO_ASSURANCE`` without a session (API tokens) or a record for
    another user (a stale record never vouches for whoever signs in next)."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or user is None or not user.is_authenticated:
        return NO_ASSURANCE
    if getattr(request, "auth", None) is not None:
        # DRF request authenticated by a token: the session cookie may ride along, but the
        # credential that made this call is the token, which proves no second factor.
        return NO_ASSURANCE
    record = session.get(SESSION_KEY)
    if not isinstance(record, dict) or record.get("user_id") != user.pk:
        return NO_ASSURANCE
    return Assurance(
        method=str(record.get("method", "")),
        authenticated_at=datetime.fromtimestamp(float(record.get("at", 0)), tz=UTC),
        mfa=bool(record.get("mfa")),
        acr=str(record.get("acr", "")),
        amr=tuple(str(v) for v in record.get("amr") or ()),
        subject=str(record.get("subject", "")),
        credential=str(record.get("credential", "")),
    )


def record_password_sign_in(sender, request, user, **kwargs) -> None:
    """``user_logged_in`` receiver: a login through a password backend records "password".

    Other backends (OIDC, SAML) record their own method and acr/amr after login."""
    if getattr(user, "backend", "") in PASSWORD_BACKENDS:
        record_sign_in(request, user, method="password", mfa=False)
