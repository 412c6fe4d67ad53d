"""Issue 18 gap: the backtest as an API (``POST /api/v1/policies/<tool>/backtest/``), the same
service and checks as the console page: exact counts on the small seeded history of
``test_backtest.py``, bad input a 400 naming the field, every role's access, throttled."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.approvals.test_api import token_client

from .test_backtest import DRAFT, SM1, SM2, history  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db
URL = "/api/v1/policies/payments.refund/backtest/"


def _period() -> dict:
    today = timezone.now().date()
    return {"start": (today - timezone.timedelta(days=6)).isoformat(), "end": today.isoformat()}


def test_the_api_counts_exactly_what_the_console_page_counts(history, board_user, refund_policy):  # noqa: F811
    response = token_client(board_user).post(URL, {**_period(), "rules_source": DRAFT}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    figures = [body[k] for k in ("total", "replayed", "unchanged", "changed", "purged", "gate_decided", "refused")]
    assert figures == [9, 7, 4, 3, 1, 1, 0]  # the 40-day-old request is outside the period
    assert sorted((t["before"], t["after"], t["count"]) for t in body["transitions"]) == sorted(
        [(SM2, "allow", 1), ("allow", SM1, 1), (SM2, "deny", 1)]
    )
    examples = {c["after"]: c["examples"] for c in body["changes"]}
    assert examples == {"allow": [history["c"]["id"]], SM1: [history["d"]["id"]], "deny": [history["e"]["id"]]}
    assert body["redacted_fields"] == {"card_number": 1} and body["redacted_rules"] == [5]


def test_the_draft_may_declare_its_own_fields(history, board_user, refund_policy):  # noqa: F811
    data = {**_period(), "fields_source": refund_policy.fields_source + "\nregion: string", "rules_source": ""}
    body = token_client(board_user).post(URL, data, format="json").json()
    assert (body["refused"], body["replayed"]) == (7, 0)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start": "2026-02-01", "end": "2026-01-01", "rules_source": ""}, "end", "The period ends before it starts."),
        ({"start": "2026-01-01", "end": "2026-03-01", "rules_source": ""}, "end", "Replay at most 31 days"),
        ({"start": "yesterday", "end": "2026-01-01", "rules_source": ""}, "start", "Date has wrong format"),
        ({"start": 5, "end": [], "rules_source": {}}, "start", "Date has wrong format"),
        (
            {"start": "2026-01-01", "end": "2026-01-02", "rules_source": "allow if amont_usd < 5"},
            "rules_source",
            "unknown field 'amont_usd'",
        ),  # fmt: skip
        (
            {"start": "2026-01-01", "end": "2026-01-02", "rules_source": "", "fields_source": "x: nope"},
            "fields_source",
            "",
        ),  # fmt: skip
        ({"end": "2026-01-02"}, "start", "required"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(board_user, refund_policy, data, field, message):
    response = token_client(board_user).post(URL, data, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors


def test_a_body_that_is_not_an_object_and_an_unknown_tool_are_refused(board_user, refund_policy):
    client = token_client(board_user)
    assert client.post(URL, [1, 2], format="json").status_code == 400
    assert client.post("/api/v1/policies/no.such/backtest/", _period(), format="json").status_code == 404


@pytest.mark.parametrize(
    "role",
    [
        "board_user",
        "approver_user",
        "owner_user",
        "other_owner_user",
        "operator_user",
        "executive_user",
        "auditor_user",
    ],
)
def test_every_role_that_reads_policies_may_run_it_the_others_get_403(request, refund_policy, role):
    user = request.getfixturevalue(role)
    expected = 200 if user.has_perm("actions.view_actionpolicyversion") else 403
    response = token_client(user).post(URL, {**_period(), "rules_source": ""}, format="json")
    assert response.status_code == expected, (role, response.content)


def test_without_credentials_or_with_an_agent_key_it_is_401(client, agent_client, refund_policy):
    assert client.post(URL, {}, content_type="application/json").status_code in (401, 403)
    assert agent_client.post(URL, {**_period(), "rules_source": ""}, format="json").status_code in (401, 403)


def test_it_is_throttled_per_person(board_user, refund_policy, settings):
    cache.clear()
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 2
    client = token_client(board_user)
    answers = [client.post(URL, {**_period(), "rules_source": ""}, format="json") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" in answers[2]
