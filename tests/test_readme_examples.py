"""The README's curl examples, run as they are written with the real ``curl`` against a live server.

Each block marked ``<!-- tested: NAME -->`` in README.md is executed by bash with ``QUORUM_URL``
(the live server) and ``AGENT_KEY`` (a freshly issued key of the demo's support-triage agent) set.
curl reads a ``.curlrc`` from ``CURL_HOME`` that appends the HTTP status to the answer, so the
README's commands stay exactly as a reader copies them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- tested: ([\w-]+) -->\s*\n```(?:sh|bash|console)?\n(.*?)\n```", re.S)

pytestmark = pytest.mark.django_db(transaction=True)


def readme_blocks() -> dict[str, str]:
    return dict(BLOCK.findall(README.read_text()))


@pytest.fixture
def demo_agent_key(transactional_db):
    from actions.demo import seed_actions
    from registry.demo import seed_registry
    from registry.models import Agent
    from registry.services import agent_key_issue

    seed_registry()
    seed_actions()
    _key, secret = agent_key_issue(agent=Agent.objects.get(slug="support-triage"), name="README examples")
    return secret


@pytest.fixture
def run_block(live_server, demo_agent_key, tmp_path):
    curl = shutil.which("curl")
    assert curl, "curl is needed to run the README's examples"
    (tmp_path / ".curlrc").write_text('write-out = "\\n%{http_code}\\n"\n')
    blocks = readme_blocks()

    def run(name: str, **extra_env) -> tuple[int, dict]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "CURL_HOME": str(tmp_path),
            "QUORUM_URL": live_server.url,
            "AGENT_KEY": demo_agent_key,
            **extra_env,
        }
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", blocks[name]], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        body, _, code = done.stdout.rstrip("\n").rpartition("\n")
        return int(code), json.loads(body)

    return run


def test_the_readme_marks_its_examples():
    assert {"readme-run", "readme-batch", "readme-action", "readme-action-poll", "readme-otlp"} <= set(readme_blocks())
    for name, block in readme_blocks().items():
        assert "curl " in block and "$QUORUM_URL" in block and "$AGENT_KEY" in block, name


def test_the_single_run_example_stores_a_run(run_block):
    from telemetry.models import Run

    # The shell that retries keeps NOW (the block sets it only when unset): the replay carries the
    # same started_at, so it is the same run even when the retry comes seconds later.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, body = run_block("readme-run", NOW=now)
    assert (code, body["result"], body["run_id"]) == (201, "created", "zd-88123-1")
    assert Run.objects.filter(run_id="zd-88123-1", agent__slug="support-triage").count() == 1
    time.sleep(1.1)
    code, body = run_block("readme-run", NOW=now)  # as the README says: the same run again is a duplicate
    assert (code, body["result"]) == (200, "duplicate")


def test_the_batch_example_stores_both_runs(run_block):
    code, body = run_block("readme-batch")
    assert code == 200
    assert (body["created"], body["duplicates"], body["invalid"]) == (2, 0, 0)


def test_the_refund_example_waits_for_the_support_managers_and_polls(run_block):
    code, body = run_block("readme-action")
    assert code == 201 and body["status"] == "pending"
    assert body["id"] and body["expires_at"]
    code, poll = run_block("readme-action-poll", ACTION_ID=body["id"])
    assert code == 200 and poll["id"] == body["id"] and poll["status"] == "pending"


def test_the_otlp_example_makes_a_run_with_its_trace(run_block):
    from django.db import connection

    from telemetry.models import Run, Span

    code, body = run_block("readme-otlp")
    assert (code, body) == (200, {})
    run = Run.objects.get(agent__slug="support-triage", run_id="4bf92f3577b34da6a3ce929d0e0e4737:00f067aa0ba902b7")
    assert (run.tool_calls, run.tools_used, run.input_tokens, run.output_tokens) == (1, ["tickets.read"], 900, 120)
    assert run.version is not None and run.model == "gpt-4o-2024-08-06"
    assert Span.objects.filter(trace_id=run.trace_id).count() == 3
    with connection.cursor() as cursor:  # the partitioned span table is not flushed between tests
        cursor.execute("TRUNCATE telemetry_span")
