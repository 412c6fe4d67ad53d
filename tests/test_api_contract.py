"""Schemathesis over the whole API (issue 14, item 2): every operation, people's as a person
with a token and agents' as an agent with its key, answers no 5xx and nothing its own OpenAPI
schema does not document (status codes, content types, bodies, headers)."""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.specs.openapi.checks import ignored_auth

from config.wsgi import application
from tests.telemetry.conftest import deployed_version  # noqa: F401  (the agent's deployed version)
from tests.telemetry.test_schemathesis import keep_test_connection  # noqa: F401

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = int(os.environ.get("QUORUM_SCHEMATHESIS_EXAMPLES", "50"))


@pytest.fixture
def person_token(board_user):
    from registry.services import user_key_issue

    _key, secret = user_key_issue(user=board_user, name="schemathesis")
    return secret


@pytest.mark.usefixtures("deployed_version", "keep_test_connection")
def test_the_whole_api_conforms_to_its_schema(settings, agent_key, person_token):
    # Limits that schemathesis would hit by design (it replays cases with bad keys).
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.QUORUM_TOKEN_FAILURES_PER_MINUTE = 1_000_000
    cache.clear()
    schema = schemathesis.from_wsgi("/api/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    seen: dict[str, set[int]] = {}
    started = time.monotonic()
    for operation in operations:
        security = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
        if "agentKey" in security:
            _check(operation, f"Bearer {agent_key}", seen, excluded=())()
        else:
            # People's operations accept a token or a session cookie: schemathesis' ignored-auth
            # check spoils one of the two and still sees 200 through the other. Bad credentials are
            # a 401 on every endpoint: tests/registry (issue 14, item 3).
            _check(operation, f"Token {person_token}", seen, excluded=(ignored_auth,))()
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations x {EXAMPLES_PER_OPERATION} examples in {elapsed:.0f} s")
    answered = [name for name, statuses in seen.items() if statuses & {200, 201, 304}]
    assert len(answered) >= len(operations) // 2, seen


def _check(operation, header: str, seen: dict[str, set[int]], excluded: tuple):
    """One operation's property test, authenticated as its own kind of principal."""

    @given(case=operation.as_strategy())
    @hsettings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        # On the case itself, so schemathesis' ignored-auth check can replay it with a bad key.
        case.headers = {**(case.headers or {}), "Authorization": header}
        response = case.call_wsgi()
        seen.setdefault(operation.verbose_name, set()).add(response.status_code)
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        case.validate_response(response, excluded_checks=excluded)

    return check
