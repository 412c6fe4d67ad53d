"""The audit explorer: auditors and the board read every chain entry, filtered by actor, agent,
object type, action, dates and text; the CSV and JSON Lines exports and the API return exactly
the filtered entries; an executive gets a 403 and no link; bad filters are clear 400s; CSV cells
cannot smuggle formulas."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from registry.audit_chain import chain_append
from registry.models import AuditEntry
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(agent, board_user, auditor_user):
    """Six distinctive entries (action ``test.*``) among whatever else the fixtures chained."""
    other = AgentFactory(slug="other-agent", name="Other Agent")
    made = [
        chain_append(action="test.alpha", actor=board_user, agent=agent, obj=agent, summary="Raised the tier"),
        chain_append(action="test.alpha", actor=auditor_user, agent=other, obj=other, summary="Read the card"),
        chain_append(
            action="test.beta",
            actor=agent,
            agent=agent,
            object_type="actions.actionrequest",
            object_id="3f1c0000-0000-0000-0000-000000000001",
            summary="Refund 120 USD",
        ),
        chain_append(action="test.beta.deep", actor=None, agent=agent, summary="Nightly purge ran"),
        chain_append(
            action="test.gamma",
            actor=board_user,
            summary='=HYPERLINK("http://evil")',
            payload={"note": "+1 cell", "n": 3},
        ),
        chain_append(action="test.gamma", actor=None, summary="-2+3 formula and @SUM(A1)"),
    ]
    return {"agent": agent, "other": other, "made": made}


def _seqs(qs_or_rows) -> list[int]:
    return sorted(int(r["seq"]) if isinstance(r, dict) else r.seq for r in qs_or_rows)


def _test_entries(**filters):
    return AuditEntry.objects.filter(action__startswith="test.", **filters)


def _csv(client, query: str) -> list[dict]:
    response = client.get(reverse("trail:export_csv") + "?" + query)
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _jsonl(client, query: str) -> list[dict]:
    response = client.get(reverse("trail:export_jsonl") + "?" + query)
    assert response.status_code == 200 and response.streaming
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def _api(user, query: str) -> list[dict]:
    api = APIClient()
    api.force_authenticate(user)
    response = api.get("/api/v1/audit-entries/?limit=500&" + query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("action=test.alpha", lambda e: [e["made"][0], e["made"][1]]),
        ("action=test.beta", lambda e: [e["made"][2], e["made"][3]]),  # test.beta.deep is under test.beta
        ("action=test.gamma&actor_kind=system", lambda e: [e["made"][5]]),
        ("action=test.alpha&actor=auditor", lambda e: [e["made"][1]]),
        ("q=refund+120&action=test.beta", lambda e: [e["made"][2]]),
        ("agent=other-agent&action=test.alpha", lambda e: [e["made"][1]]),
        ("object_type=actions.actionrequest&action=test.beta", lambda e: [e["made"][2]]),
        ("actor_kind=agent&action=test.beta", lambda e: [e["made"][2]]),
    ],
)
def test_filters_and_exports_return_exactly_the_matching_entries(client, entries, auditor_user, query, expected):
    want = sorted(e.seq for e in expected(entries))
    client.force_login(auditor_user)

    page = client.get(reverse("trail:explorer") + "?" + query)

    assert page.status_code == 200
    shown = [e.seq for e in page.context["page"].object_list]
    assert sorted(shown) == want
    assert _seqs(_csv(client, query)) == want
    assert _seqs(_jsonl(client, query)) == want
    assert _seqs(_api(auditor_user, query)) == want


def test_the_date_range_is_inclusive_days(client, entries, board_user):
    today = timezone.now().date()
    client.force_login(board_user)
    inside = f"action=test.alpha&since={today}&until={today}"
    before = f"action=test.alpha&until={today - timedelta(days=1)}"
    assert _seqs(_jsonl(client, inside)) == sorted(e.seq for e in entries["made"][:2])
    assert _jsonl(client, before) == []


def test_an_export_line_carries_what_the_chain_hashed(client, entries, auditor_user):
    client.force_login(auditor_user)
    (line,) = [r for r in _jsonl(client, "action=test.gamma&actor_kind=person")]
    entry = entries["made"][4]
    assert line["content_hash"] == entry.content_hash and line["prev_hash"] == entry.prev_hash
    assert line["payload"] == {"note": "+1 cell", "n": 3}
    assert line["actor_label"] == "board"


def test_csv_cells_cannot_carry_formulas(client, entries, auditor_user):
    client.force_login(auditor_user)
    rows = {r["seq"]: r for r in _csv(client, "action=test.gamma")}
    person, system = (rows[str(e.seq)] for e in entries["made"][4:])
    assert person["summary"] == '\'=HYPERLINK("http://evil")'
    assert system["summary"] == "'-2+3 formula and @SUM(A1)"
    assert person["action"] == "test.gamma" and person["seq"] == str(entries["made"][4].seq)


@pytest.mark.parametrize(
    "query, field",
    [
        ("actor_kind=robot", "actor_kind"),
        ("agent=no-such-agent", "agent"),
        ("agent=not%20a%20slug!", "agent"),
        ("object_type=DROP TABLE", "object_type"),
        ("action=Not An Action", "action"),
        ("since=yesterday", "since"),
        ("since=2026-02-30", "since"),
        ("since=2026-05-02&until=2026-05-01", "until"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_bad_filters_are_clear_400s_never_5xx(client, entries, auditor_user, query, field):
    client.force_login(auditor_user)
    page = client.get(reverse("trail:explorer") + "?" + query)
    assert page.status_code == 400 and 'data-testid="filter-error"' in page.content.decode()
    assert page.context["form"].errors.get(field)
    export = client.get(reverse("trail:export_csv") + "?" + query)
    assert export.status_code == 400 and field in export.content.decode()
    api = APIClient()
    api.force_authenticate(auditor_user)
    answer = api.get("/api/v1/audit-entries/?" + query)
    assert answer.status_code == 400 and field in json.dumps(answer.json())


def test_a_page_number_out_of_range_is_the_last_page(client, entries, auditor_user):
    client.force_login(auditor_user)
    assert client.get(reverse("trail:explorer") + "?page=99999").status_code == 200
    assert client.get(reverse("trail:explorer") + "?page=abc").status_code == 200


def test_auditors_and_the_board_reach_the_explorer_an_executive_does_not(
    client, entries, auditor_user, board_user, executive_user, operator_user
):
    for user in (auditor_user, board_user):
        client.force_login(user)
        home = client.get("/").content.decode()
        assert f'href="{reverse("trail:explorer")}"' in home
        for name in ("trail:explorer", "trail:export_csv", "trail:export_jsonl"):
            assert client.get(reverse(name)).status_code == 200
        assert _api(user, "action=test.alpha")
    for user in (executive_user, operator_user):
        client.force_login(user)
        assert f'href="{reverse("trail:explorer")}"' not in client.get("/").content.decode()
        for name in ("trail:explorer", "trail:export_csv", "trail:export_jsonl"):
            assert client.get(reverse(name)).status_code == 403
        api = APIClient()
        api.force_authenticate(user)
        assert api.get("/api/v1/audit-entries/").status_code == 403


def test_each_entry_links_to_its_object_or_to_its_entries(client, entries, auditor_user):
    client.force_login(auditor_user)
    agent_entry, _, missing_action, no_object, *_ = entries["made"]
    assert client.get(reverse("trail:entry_object", args=[agent_entry.seq])).url == entries["agent"].get_absolute_url()
    # An object that is gone (or never had a page) leads to its own entries, never a dead link.
    gone = client.get(reverse("trail:entry_object", args=[missing_action.seq]))
    assert gone.url.startswith(reverse("trail:explorer") + "?object_type=actions.actionrequest&object_id=")
    page = client.get(reverse("trail:explorer") + "?action=test.beta").content.decode()
    assert reverse("trail:why_action", args=[missing_action.object_id]) in page  # the why-page link
    assert reverse("trail:entry_object", args=[no_object.seq]) not in page


def test_verify_now_records_the_chain_status(client, entries, auditor_user):
    client.force_login(auditor_user)
    assert "not verified yet" in client.get(reverse("trail:explorer")).content.decode()

    client.post(reverse("trail:chain_verify"))

    status = client.get(reverse("trail:explorer")).content.decode()
    assert 'badge text-bg-success">verified' in status
