"""No 5xx from any input (issue 14, item 2): too-deep JSON, huge pagination numbers, booleans for
numbers, an unexpected exception and a lost database connection each get a clear JSON answer."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client, override_settings
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from config.urls import handler404, handler500  # noqa: F401  (this module stands in for the root URLconf)
from config.urls import urlpatterns as console_urlpatterns

pytestmark = pytest.mark.django_db

TOO_DEEP = ("[" * 1000 + "]" * 1000).encode()
TOO_DEEP_OBJECT = ('{"a":' * 1000 + "1" + "}" * 1000).encode()

# Every endpoint that takes a JSON body: (path, principal).
JSON_ENDPOINTS = [
    ("/api/v1/change-requests/", "person"),
    ("/api/v1/incidents/", "person"),
    ("/api/v1/eval-runs/", "person"),
    ("/api/v1/action-requests/", "agent"),
    ("/api/v1/runs/", "agent"),
    ("/api/v1/runs/batch/", "agent"),
]

LIST_ENDPOINTS = ["/api/v1/agents/", "/api/v1/change-requests/", "/api/v1/incidents/", "/api/v1/eval-runs/"]


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()


@pytest.fixture
def person_client(board_user):
    from registry.services import user_key_issue

    _key, secret = user_key_issue(user=board_user, name="inputs test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def clients(person_client, agent_client):
    return {"person": person_client, "agent": agent_client}


@pytest.mark.parametrize("body", [TOO_DEEP, TOO_DEEP_OBJECT], ids=["arrays", "objects"])
@pytest.mark.parametrize(("url", "principal"), JSON_ENDPOINTS)
def test_too_deep_json_is_a_400_naming_the_problem(clients, url, principal, body):
    response = clients[principal].post(url, data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    errors = response.json()["errors"]
    assert any("nested" in error["message"] for error in errors), errors


def test_json_nested_within_the_limit_still_parses(person_client):
    # A plain object a few levels deep reaches the serializer (which names its own field errors).
    response = person_client.post(
        "/api/v1/change-requests/", data={"payload": {"a": {"b": {"c": [1, 2]}}}}, format="json"
    )
    assert response.status_code == 400
    assert all("nested" not in error["message"] for error in response.json()["errors"])


def test_a_body_over_the_limit_is_413(person_client):
    body = b'{"note": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = person_client.post("/api/v1/incidents/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "body_too_large"


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
@pytest.mark.parametrize("query", ["limit=100000000000000000000", "offset=100000000000000000000", "limit=-5"])
def test_huge_pagination_numbers_are_bounded(person_client, url, query):
    response = person_client.get(f"{url}?{query}")
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 200:
        assert len(response.json()["results"]) <= 500


def test_limit_is_clamped_to_the_maximum(person_client, agent):
    response = person_client.get("/api/v1/agents/?limit=100000000000000000000")
    assert response.status_code == 200
    assert "limit=500" in (response.json()["next"] or "limit=500")


# --- unexpected exceptions and a lost database ----------------------------------------------


@api_view(["GET"])
@permission_classes([AllowAny])
def _api_crash(request):
    raise RuntimeError("ProgrammingError: relation quorum_secret_table does not exist")


@api_view(["GET"])
@permission_classes([AllowAny])
def _api_database_gone(request):
    raise OperationalError("server closed the connection unexpectedly")


def _console_database_gone(request):
    raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [
    path("api/v1/test-crash/", _api_crash),
    path("api/v1/test-database-gone/", _api_database_gone),
    path("test-database-gone/", _console_database_gone),
    *console_urlpatterns,
]


@override_settings(ROOT_URLCONF=__name__)
def test_an_api_500_answers_in_the_json_error_shape():
    response = Client(raise_request_exception=False).get("/api/v1/test-crash/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["errors"][0]["code"] == "server_error"
    assert "quorum_secret_table" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
def test_a_lost_database_is_a_503_with_retry_after_on_the_api():
    response = Client(raise_request_exception=False).get("/api/v1/test-database-gone/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    assert "server closed" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
def test_a_lost_database_is_a_503_page_in_the_console():
    response = Client(raise_request_exception=False).get("/test-database-gone/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    assert b'data-status="503"' in response.content
    assert b"server closed" not in response.content


# --- NUL characters (found by schemathesis: PostgreSQL text cannot hold them) ----------------


def test_a_nul_in_a_query_parameter_is_a_400(person_client):
    response = person_client.get("/api/v1/change-requests/?agent=%00x")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_character"


def test_a_session_cookie_with_a_nul_counts_as_no_session(person_client):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "abc\x00defghijk"
    assert client.get("/api/v1/agents/").status_code == 401
    assert client.get("/agents/").status_code == 302  # to the login page
    person_client.cookies["sessionid"] = "abc\x00defghijk"
    assert person_client.get("/api/v1/agents/").status_code == 200


def test_a_nul_in_a_json_string_is_a_400(person_client):
    body = b'{"title": "a\\u0000b", "severity": "sev3"}'
    response = person_client.post("/api/v1/incidents/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_character"


def test_an_unmatched_api_address_is_a_json_404(person_client):
    response = person_client.get("/api/v1/reports/agents/a:b/roi/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize("value", [True, 1.5, "1.5"])
def test_an_action_request_refuses_a_non_integer_id(agent_client, value):
    body = {"tool": "tickets.read", "parameters": {}, "dry_run": True, "change_request_id": value}
    response = agent_client.post("/api/v1/action-requests/", data=body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "change_request_id" in {error["field"] for error in response.json()["errors"]}
