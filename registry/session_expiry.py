"""Console sessions end after ``QUORUM_SESSION_IDLE_MINUTES`` without a request (default 30) and,
however active, ``SESSION_COOKIE_AGE`` seconds after they began (default 12 hours).

Django alone gives neither: its session expiry slides forward whenever the session is saved.
django-session-timeout would do the idle part but has had no release since 2020, and the
absolute lifetime takes the same few lines, so a small middleware does both."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout

STARTED_AT = "quorum_session_started_at"
SEEN_AT = "quorum_session_seen_at"
# The last-seen stamp is written at most once a minute, not on every request (one session write
# per request would be a database write per page view and per HTMX poll).
SEEN_RESOLUTION_SECONDS = 60


def session_stamp_on_login(sender, request, user, **kwargs) -> None:
    """A session's clock starts at sign-in, saved with the login itself (connected in
    ``RegistryConfig.ready``), so the first page after it writes no session row."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[STARTED_AT] = now
        request.session[SEEN_AT] = now


def session_expired(session, now: float) -> str | None:
    """Why this signed-in session is over ("idle", "lifetime"), or None while it is valid."""
    started, seen = session.get(STARTED_AT), session.get(SEEN_AT)
    if seen is not None and now - seen > settings.QUORUM_SESSION_IDLE_MINUTES * 60:
        return "idle"
    if started is not None and now - started > settings.SESSION_COOKIE_AGE:
        return "lifetime"
    return None


class SessionExpiryMiddleware:
    """Logs out a session past its idle timeout or its absolute lifetime (after
    ``AuthenticationMiddleware``); the request then goes on as anonymous, so pages send the
    visitor to the login page and the API answers 401."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            self._check(request)
        return self.get_response(request)

    def _check(self, request) -> None:
        session, now = request.session, time.time()
        if SESSION_KEY not in session:
            return  # a token-authenticated API call has no console session
        reason = session_expired(session, now)
        if reason:
            logout(request)
            why = (
                f"{settings.QUORUM_SESSION_IDLE_MINUTES} minutes without activity"
                if reason == "idle"
                else "the longest time a session may last"
            )
            messages.info(request, f"You were signed out after {why}. Please sign in again.", fail_silently=True)
            return
        session.setdefault(STARTED_AT, now)
        if now - session.get(SEEN_AT, 0) >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_AT] = now
