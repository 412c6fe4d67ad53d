"""Login throttling (issue 14): django-axes locks an account, and separately an address, after
``AXES_FAILURE_LIMIT`` failed logins in a row; the attempts are kept (``AccessAttempt``,
``AccessFailureLog``) and an administrator unlocks by deleting the attempt in the admin (or
``manage.py axes_reset``). Only failures count: a successful login resets its account's and
address's count, so the demo and the browser tests, which log in many times, never lock."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """axes' backend, for logins that come with a request (the login page, the admin).

    ``authenticate()`` without one (a management command, the test client's ``login()``) has no
    address to count against; axes would raise, so it is left to the next backend instead."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
