"""For the tests whose fake agents and webhook receivers listen on 127.0.0.1: the outbound guard
(registry.outbound) refuses loopback, so these tests allow it, explicitly and only here (never in
config/settings_test.py, so that tests/registry/test_outbound.py sees the refusal).

Import the fixture into a conftest (or a test module) to make it apply there::

    from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401
"""

from __future__ import annotations

import pytest

LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture(autouse=True)
def loopback_outbound_allowed(settings, monkeypatch):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = LOOPBACK_HOSTS
    # A real Celery worker (tests.conftest.celery_worker_process) reads its settings from the
    # environment; autouse fixtures run before the worker fixture starts it.
    monkeypatch.setenv("QUORUM_OUTBOUND_ALLOWED_HOSTS", ",".join(LOOPBACK_HOSTS))
