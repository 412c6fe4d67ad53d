"""Property-based checks of the agent endpoints against the project's own OpenAPI schema:
no 5xx, documented status codes, bodies and content types that match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from config.wsgi import application

pytestmark = pytest.mark.django_db

AGENT_ENDPOINTS = r"^/api/v1/(runs/|runs/batch/|controls/|agent/whoami/)$"
EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def keep_test_connection():
    """Calling the WSGI app directly fires request_finished, which would close the test's DB
    connection (and its transaction); Django's own test client disconnects it the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_agent_endpoints_conform_to_the_schema(settings, agent_key, deployed_version, keep_test_connection):
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 1_000_000
    schema = schemathesis.from_wsgi("/api/schema/", application).include(path_regex=AGENT_ENDPOINTS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/v1/runs/",
        "/api/v1/runs/batch/",
        "/api/v1/controls/",
        "/api/v1/agent/whoami/",
    }
    seen_statuses: set[int] = set()
    for operation in operations:

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
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {agent_key}"}
            response = case.call_wsgi()
            seen_statuses.add(response.status_code)
            assert response.status_code < 500, response.get_data(as_text=True)[:500]
            case.validate_response(response)

        check()
    assert 200 in seen_statuses
