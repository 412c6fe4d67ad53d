"""Local passwords can be turned off for everyone but named break-glass accounts (issue 20).

With ``QUORUM_LOCAL_PASSWORDS`` off, people sign in through the identity provider; a password
sign-in (the login page, the admin) is refused unless the username is in
``QUORUM_BREAK_GLASS_USERS``, the accounts kept for when the IdP itself is down."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied


def local_password_allowed(username: str | None) -> bool:
    """Whether ``username`` may sign in with a local password under the current setting."""
    if settings.QUORUM_LOCAL_PASSWORDS:
        return True
    return bool(username) and username in settings.QUORUM_BREAK_GLASS_USERS


class LocalPasswordPolicyBackend:
    """Placed before the password backend: raising PermissionDenied stops Django's
    ``authenticate()`` there, so no later backend checks the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if password is not None and not local_password_allowed(username):
            raise PermissionDenied("local passwords are turned off")
        return None

    # No get_user(): it never signs anyone in, so no session names it (and the test client's
    # force_login() takes the first backend that has one).
