"""Issue 14 item 3: throttled logins and tokens, bounded sessions, 401 for bad credentials.

* 20 wrong passwords, then the right one: refused (locked); an administrator unlocks it.
* Only failures lock: the demo and the browser tests log in many times with the right password.
* Failed token authentication (people's tokens and agents' keys) is limited per address: 429.
* A session ends after the idle timeout, and after its absolute lifetime however active.
* A bad token gets 401 with ``WWW-Authenticate`` on every API endpoint."""

from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from registry.session_expiry import SEEN_AT, STARTED_AT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _login(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_twenty_wrong_passwords_lock_the_account_until_an_admin_unlocks_it():
    UserFactory(username="alice")
    attacker = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(20):
        assert _login(attacker, "alice", "wrong").status_code in (200, 429)
    refused = _login(attacker, "alice", "pw")
    assert refused.status_code == 429 and "Sign-in locked" in refused.text
    assert not _signed_in(attacker)
    # The account is locked from any address, not just the attacker's.
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert _login(elsewhere, "alice", "pw").status_code == 429
    # Audited: the attempts and each failure are kept.
    assert AccessAttempt.objects.filter(username="alice").exists()
    assert AccessFailureLog.objects.filter(username="alice").count() >= 10

    admin = Client(REMOTE_ADDR="192.0.2.30")
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    assert _login(admin, "root", "pw").status_code == 302
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    unlocked = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert unlocked.status_code == 302 and not AccessAttempt.objects.exists()
    assert _login(elsewhere, "alice", "pw").status_code == 302 and _signed_in(elsewhere)


def test_an_address_is_locked_too_whatever_account_it_tries():
    UserFactory(username="bob")
    sprayer = Client(REMOTE_ADDR="203.0.113.11")
    for i in range(10):
        _login(sprayer, f"nobody-{i}", "wrong")
    assert _login(sprayer, "bob", "pw").status_code == 429
    assert _login(Client(REMOTE_ADDR="198.51.100.21"), "bob", "pw").status_code == 302


def test_only_failures_lock_and_a_success_resets_the_count():
    UserFactory(username="carol")
    client = Client(REMOTE_ADDR="203.0.113.12")
    for _ in range(30):
        assert _login(client, "carol", "pw").status_code == 302
        client.post("/logout/")
    for _ in range(9):
        _login(client, "carol", "wrong")
    assert _login(client, "carol", "pw").status_code == 302
    client.post("/logout/")
    for _ in range(9):
        _login(client, "carol", "wrong")
    assert _login(client, "carol", "pw").status_code == 302


def test_the_test_client_login_still_works():
    UserFactory(username="dave")
    assert Client().login(username="dave", password="pw")


# --- sessions --------------------------------------------------------------------------------


def _age_session(client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = session[key] - seconds
    session.save()


def test_an_idle_session_ends_after_the_idle_timeout(client, settings):
    settings.QUORUM_SESSION_IDLE_MINUTES = 30
    client.force_login(UserFactory(username="erin"))
    assert _signed_in(client)
    _age_session(client, SEEN_AT, 29 * 60)
    assert _signed_in(client)  # 29 minutes idle: still in (and the clock restarts)
    _age_session(client, SEEN_AT, 31 * 60)
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert "without activity" in client.get("/login/").text


def test_a_busy_session_still_ends_at_its_absolute_lifetime(client, settings):
    settings.SESSION_COOKIE_AGE = 12 * 60 * 60
    client.force_login(UserFactory(username="frank"))
    assert _signed_in(client)
    _age_session(client, STARTED_AT, 12 * 60 * 60 + 1)
    assert not _signed_in(client)


def test_the_session_defaults_are_30_minutes_idle_and_12_hours_in_all():
    from django.conf import settings

    assert settings.QUORUM_SESSION_IDLE_MINUTES == 30
    assert settings.SESSION_COOKIE_AGE == 12 * 60 * 60


# --- tokens ----------------------------------------------------------------------------------


def _same_minute(needed_seconds: float = 5) -> None:
    """The failure count is per clock minute: start a burst where it cannot straddle two."""
    left = 60 - time.time() % 60
    if left < needed_seconds:
        time.sleep(left + 0.1)


def test_failed_token_authentication_is_limited_per_address(settings, agent_key):
    settings.QUORUM_TOKEN_FAILURES_PER_MINUTE = 3
    _same_minute()
    guesser = APIClient(REMOTE_ADDR="203.0.113.40")
    guesser.credentials(HTTP_AUTHORIZATION="Token abc.guess")
    for _ in range(3):
        assert guesser.get("/api/v1/agents/").status_code == 401
    limited = guesser.get("/api/v1/agents/")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    # Agent keys count against the same address, and even a right key waits out the minute.
    guesser.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    assert guesser.get("/api/v1/controls/").status_code == 429
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="198.51.100.41")
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    assert other.get("/api/v1/controls/").status_code == 200


def test_failed_agent_keys_are_limited_too(settings):
    settings.QUORUM_TOKEN_FAILURES_PER_MINUTE = 2
    _same_minute()
    guesser = APIClient(REMOTE_ADDR="203.0.113.42")
    guesser.credentials(HTTP_AUTHORIZATION="Bearer qk_x.guess")
    # A forged X-Forwarded-For changes nothing: without a trusted proxy the address is REMOTE_ADDR.
    codes = [guesser.get("/api/v1/controls/", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}").status_code for i in range(3)]
    assert codes == [401, 401, 429]


def _api_paths() -> list[str]:
    """Every /api/v1/ route, with a placeholder for each path parameter."""
    import re

    found = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                found.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "/")
    paths = set()
    for raw in found:
        if not raw.startswith("/api/v1/") or "<format>" in raw:  # the router's ".json" twins
            continue
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", raw).replace("^", "").replace("$", "")
        path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", path)
        paths.add(path)
    return sorted(paths)


@pytest.mark.parametrize("credential", ["Token abc.not-a-key", "Bearer qk_abc.not-a-key"])
def test_a_bad_token_gets_401_with_www_authenticate_on_every_api_endpoint(settings, credential):
    settings.QUORUM_TOKEN_FAILURES_PER_MINUTE = 10_000
    client = APIClient(REMOTE_ADDR="203.0.113.50")
    client.credentials(HTTP_AUTHORIZATION=credential)
    paths = _api_paths()
    assert len(paths) >= 15
    for path in paths:
        for method in ("get", "post"):
            response = getattr(client, method)(path, {}, format="json")
            if response.status_code == 405:
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.get("WWW-Authenticate"), (method, path)
