"""Offline-verifiable evidence export (issue 15, item 5): the ZIP, and ``quorum-verify`` run as a
separate program without Django accepting a fresh export and rejecting a changed byte in any
file, a removed entry and a wrong signature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from registry.audit_chain import chain_append, checkpoint_sign
from registry.audit_signing import key_id_of, public_key_hex
from registry.models import AuditEntry
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "quorum_verify"


def quorum_verify(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """The verifier as an auditor runs it: another interpreter, no Django settings, no database."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(TOOLS)}
    return subprocess.run(
        [sys.executable, "-m", "quorum_verify", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def export(tmp_path, agent, board_user) -> Path:
    other = AgentFactory(slug="other-agent")
    for n in range(6):
        chain_append(action="test.mine", actor=board_user, agent=agent, summary=f"mine {n}", payload={"n": n})
        chain_append(action="test.other", agent=other, summary=f"other {n}")
        if n == 2:
            checkpoint_sign()
    out = tmp_path / "evidence.zip"
    call_command("evidence_export", "--agent", agent.slug, "--since", "2000-01-01", "--out", str(out))
    return out


def _rewrite(source: Path, target: Path, change) -> Path:
    """Copy the ZIP, passing each member's bytes through ``change(name, data)``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = change(name, old.read(name))
            if data is not None:
                new.writestr(name, data)
    return target


def test_a_fresh_export_verifies_offline_with_the_pinned_key(export, agent):
    done = quorum_verify(export, "--key-id", key_id_of(public_key_hex()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERIFIED" in done.stdout and "(pinned)" in done.stdout
    # The agent's own entries (its creation by auditlog and the six above), the others as stubs.
    assert f"{AuditEntry.objects.filter(agent=agent).count()} in this export" in done.stdout


def test_the_export_holds_the_records_and_only_the_agents_entries_in_full(export, agent):
    with zipfile.ZipFile(export) as archive:
        names = set(archive.namelist())
        lines = [json.loads(line) for line in archive.read("audit/chain.jsonl").splitlines()]
        card = json.loads(archive.read("agent/card.json"))
        manifest = json.loads(archive.read("manifest.json"))
    for name in (
        "records/versions.jsonl",
        "records/approval_requests.jsonl",
        "records/decisions.jsonl",
        "records/action_requests.jsonl",
        "records/eval_runs.jsonl",
        "records/incidents.jsonl",
        "records/postmortems.jsonl",
        "records/reviews.jsonl",
        "audit/chain_proof.json",
    ):
        assert name in names
    assert card["slug"] == agent.slug
    full = [line for line in lines if "action" in line]
    assert full and all(line["agent_id"] == agent.pk for line in full)
    stubs = [line for line in lines if "action" not in line]
    assert stubs and all(set(line) == {"seq", "prev_hash", "content_hash"} for line in stubs)
    assert {item["path"] for item in manifest["files"]} == names - {"manifest.json", "manifest.sig"}


def test_a_changed_byte_in_any_file_is_refused(export, tmp_path):
    with zipfile.ZipFile(export) as archive:
        names = [name for name in archive.namelist() if archive.getinfo(name).file_size]
    for number, target in enumerate(names):

        def flip(name, data, target=target):
            if name != target:
                return data
            return data[:-2] + bytes([data[-2] ^ 0x01]) + data[-1:]

        changed = _rewrite(export, tmp_path / f"changed-{number}.zip", flip)
        done = quorum_verify(changed)
        assert done.returncode == 1, (target, done.stdout)
        assert "NOT VERIFIED" in done.stdout and "FAIL" in done.stdout, target


def test_a_removed_entry_is_refused_and_named(export, tmp_path):
    def drop_one(name, data):
        if name != "audit/chain.jsonl":
            return data
        lines = data.splitlines(keepends=True)
        return b"".join(lines[:3] + lines[4:])

    done = quorum_verify(_rewrite(export, tmp_path / "removed.zip", drop_one))
    assert done.returncode == 1
    assert "audit/chain.jsonl: SHA-256" in done.stdout
    assert "audit chain broken at entry #4" in done.stdout


def test_a_wrong_signature_or_another_key_is_refused(export, tmp_path):
    def forge(name, data):
        return (b"ab" * 64 + b"\n") if name == "manifest.sig" else data

    done = quorum_verify(_rewrite(export, tmp_path / "forged.zip", forge))
    assert done.returncode == 1 and "does not match manifest.json" in done.stdout
    done = quorum_verify(export, "--key-id", "0123456789abcdef")
    assert done.returncode == 1 and "not by the pinned key" in done.stdout


def test_an_unreadable_file_exits_2(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    done = quorum_verify(junk)
    assert done.returncode == 2 and "not a readable ZIP" in done.stderr


def test_the_portfolio_export_and_bad_arguments(tmp_path, agent):
    chain_append(action="test.any", agent=agent)
    out = tmp_path / "portfolio.zip"
    call_command("evidence_export", "--portfolio", "--out", str(out))
    assert quorum_verify(out).returncode == 0
    for argv, words in (
        (["--agent", "nobody", "--out", str(out)], "no agent with slug"),
        (["--portfolio", "--since", "yesterday", "--out", str(out)], "not a date"),
        (["--portfolio", "--since", "2026-02-01", "--until", "2026-01-01", "--out", str(out)], "before --until"),
        (["--portfolio", "--out", str(tmp_path / "missing" / "x.zip")], "does not exist"),
    ):
        with pytest.raises(CommandError, match=words):
            call_command("evidence_export", *argv)


# --- the console button ----------------------------------------------------------------------


def test_the_auditor_downloads_a_verifying_export_from_the_agent_card(client, auditor_user, agent, tmp_path):
    client.force_login(auditor_user)
    card = client.get(reverse("registry:agent_detail", args=[agent.slug]))
    assert b'data-testid="evidence-download"' in card.content
    response = client.post(reverse("reports:evidence_agent", args=[agent.slug]), {"since": "2020-01-01"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"quorum-evidence-{agent.slug}-20200101-" in response["Content-Disposition"]
    out = tmp_path / "download.zip"
    out.write_bytes(b"".join(response.streaming_content))
    assert quorum_verify(out).returncode == 0


def test_the_board_may_export_the_portfolio(client, board_user, tmp_path):
    client.force_login(board_user)
    explorer = client.get(reverse("trail:explorer")).content.decode()
    assert 'data-testid="portfolio-evidence-download"' in explorer
    assert f'action="{reverse("reports:evidence_portfolio")}"' in explorer
    response = client.post(reverse("reports:evidence_portfolio"))
    assert response.status_code == 200
    out = tmp_path / "portfolio.zip"
    out.write_bytes(b"".join(response.streaming_content))
    assert quorum_verify(out).returncode == 0


def test_an_executive_sees_no_button_and_is_refused(client, executive_user, agent):
    client.force_login(executive_user)
    card = client.get(reverse("registry:agent_detail", args=[agent.slug]))
    assert card.status_code == 200 and b"evidence-download" not in card.content
    assert client.post(reverse("reports:evidence_agent", args=[agent.slug])).status_code == 403
    assert client.post(reverse("reports:evidence_portfolio")).status_code == 403


def test_bad_input_is_refused_with_a_reason(client, auditor_user, agent):
    client.force_login(auditor_user)
    url = reverse("reports:evidence_agent", args=[agent.slug])
    for data, words in (
        ({"since": "2026-13-40"}, b"Enter a valid date"),
        ({"since": "2026-05-01", "until": "2026-04-01"}, b"must not be after"),
        ({"since": "1900-01-01"}, b"between 2000 and 2100"),
    ):
        response = client.post(url, data)
        assert response.status_code == 400 and words in response.content, response.content
    assert client.get(url).status_code == 405
    assert client.post(reverse("reports:evidence_agent", args=["no-such-agent"])).status_code == 404
