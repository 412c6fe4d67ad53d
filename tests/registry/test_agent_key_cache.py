"""Verified agent keys are cached per web process, and a revocation or rotation takes effect on
the next request on every process (the stamp in Redis), tested with two real gunicorn servers."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from bench.harness import free_port
from registry import agent_key_cache
from registry.models import AgentAPIKey
from registry.services import agent_key_issue, agent_key_revoke, agent_key_rotate

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def _status(port: int, secret: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1/agent/whoami/", headers={"Authorization": f"Bearer {secret}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def two_web_processes(settings):
    """Two gunicorn servers (one worker each: two processes, two caches) on the test database,
    with a long key-cache TTL so only the stamp can explain a change taking effect."""
    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{host}/{db['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": url,
           "AGENT_KEY_CACHE_SECONDS": "600", "PYTHONWARNINGS": "ignore::UserWarning"}  # fmt: skip
    ports, procs = [free_port(), free_port()], []
    for port in ports:
        procs.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter, fixed argv
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "-b",
                    f"127.0.0.1:{port}",
                    "-w",
                    "1",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )  # fmt: skip
        )
    try:
        deadline = time.monotonic() + 90
        for port in ports:
            while True:
                try:
                    _status(port, "x.y")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_revocation_and_rotation_take_effect_on_the_next_request_on_every_web_process(agent, two_web_processes):
    ports = two_web_processes
    key, secret = agent_key_issue(agent=agent, name="fleet")
    assert [_status(p, secret) for p in ports * 2] == [200] * 4  # verified, then served from each cache
    # The cache really serves: a change behind the services' back (no signal) is not seen…
    AgentAPIKey.objects.filter(pk=key.pk).update(revoked=True, revoked_at=timezone.now())
    assert [_status(p, secret) for p in ports] == [200, 200]
    # …until the stamp changes, which every saved change to a key or an agent does on commit.
    AgentAPIKey.objects.filter(pk=key.pk).update(revoked=False, revoked_at=None)
    agent_key_cache.key_stamp_renew()
    assert [_status(p, secret) for p in ports * 2] == [200] * 4

    agent_key_revoke(agent=agent, key_id=key.pk)
    assert [_status(p, secret) for p in ports] == [401, 401]

    old, old_secret = agent_key_issue(agent=agent, name="rolling")
    assert [_status(p, old_secret) for p in ports * 2] == [200] * 4
    _new, new_secret = agent_key_rotate(agent=agent, key_id=old.pk)
    assert [_status(p, old_secret) for p in ports] == [401, 401]
    assert [_status(p, new_secret) for p in ports] == [200, 200]
