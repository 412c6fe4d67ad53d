"""docs/agents.md ("Integrate an agent"): every block of the REST and SDK paths run as written
against a live Quorum with the demo's data (the support-triage agent and its refund policy);
the two support managers approve the pending refunds while the snippets wait."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import in_thread

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "agents.md"
BLOCK = re.compile(r"<!-- tested: ([\w-]+) -->\s*\n```(sh|python)\n(.*?)\n```", re.S)
MINE = {
    "agents-rest-controls",
    "agents-rest-action",
    "agents-rest-webhook",
    "agents-sdk-gate",
    "agents-sdk-webhook",
    "agents-sdk-otel",
    "agents-otlp",
}


def doc_blocks() -> dict[str, tuple[str, str]]:
    return {name: (kind, code) for name, kind, code in BLOCK.findall(DOC.read_text())}


def approve_when_pending(order_id: str):
    """support1 and support2 approve the pending refund of ``order_id`` once it appears."""
    import time

    def approve():
        from django.contrib.auth.models import User

        from actions.models import ActionRequest
        from approvals.services import decision_record

        deadline = time.monotonic() + 60
        while not (
            action := ActionRequest.objects.filter(status="pending", parameters__order_id=order_id)
            .select_related("approval_request")
            .first()
        ):
            assert time.monotonic() < deadline, f"no pending refund for {order_id}"
            time.sleep(0.1)
        req = action.approval_request
        for name in ("support1", "support2"):
            decision_record(
                request_id=req.pk,
                approver=User.objects.get(username=name),
                verdict="approve",
                reason="customer verified",
                payload_hash=req.payload_hash,
            )

    return in_thread(approve)


def test_the_page_marks_its_examples_and_the_readme_links_it():
    assert set(doc_blocks()) >= MINE
    assert "(docs/agents.md)" in (DOC.parent.parent / "README.md").read_text()


@pytest.mark.django_db(transaction=True)
def test_every_rest_and_sdk_example_runs_as_written(live_server, tmp_path, monkeypatch):
    from actions.demo import seed_actions
    from actions.services import webhook_secret_new, webhook_standard_headers
    from registry.demo import seed_registry
    from registry.models import Agent, AgentVersion
    from registry.services import agent_key_issue

    seed_registry()
    seed_actions()
    agent = Agent.objects.get(slug="support-triage")
    _key, key = agent_key_issue(agent=agent, name="docs/agents.md")
    blocks = doc_blocks()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "QUORUM_URL": live_server.url,
        "AGENT_KEY": key,
        "QUORUM_AGENT_KEY": key,
    }

    def run(name: str) -> str:
        kind, code = blocks[name]
        argv = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else [sys.executable, "-c", code]
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        return done.stdout

    # REST by hand.
    assert run("agents-rest-controls").split() == ["304"]
    approving = approve_when_pending("A-3001")
    assert run("agents-rest-action").split() == ["approved"]
    approving.join(10)

    # The SDK: allowed at once, approved after a wait by two people, denied by a rule.
    approving = approve_when_pending("A-3003")
    out = run("agents-sdk-gate").splitlines()
    approving.join(10)
    assert out == [
        "refunded 40 USD on A-3002",
        "refunded 120 USD on A-3003",
        "refused: A refund amount must be positive.",
    ]
    from telemetry.models import Run

    recorded = Run.objects.get(agent=agent, run_id__startswith="run-")  # the SDK's run ids
    assert (recorded.tool_calls, recorded.policy_blocks, recorded.tools_used) == (2, 1, ["payments.refund"])

    deployed = AgentVersion.objects.get(agent=agent, state="deployed")
    assert run("agents-sdk-otel").split() == [deployed.bundle_digest]

    # OTLP: the official exporter's spans make a run with its model call and tool call.
    traced = Run.objects.get(agent=agent, trace_id=run("agents-otlp").strip())
    assert (traced.tool_calls, traced.tools_used, traced.input_tokens, traced.output_tokens) == (
        1, ["tickets.read"], 900, 120,
    )  # fmt: skip
    assert traced.version == deployed and traced.bundle_digest == deployed.bundle_digest

    # Webhook receivers: a signed delivery accepted, then refused as a replay; a forged one refused.
    secret = webhook_secret_new()
    monkeypatch.setenv("QUORUM_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("QUORUM_URL", live_server.url)
    monkeypatch.setenv("QUORUM_AGENT_KEY", key)
    body = b'{"event": "action_request.decided", "action_request": {"id": "a-1", "status": "approved"}}'
    for name in ("agents-rest-webhook", "agents-sdk-webhook"):
        namespace: dict = {}
        exec(compile(blocks[name][1], name, "exec"), namespace)  # noqa: S102 - the doc's own snippet
        receive = namespace["quorum_webhook"]
        headers = webhook_standard_headers(secret, f"{name}-1", body)
        assert receive(body, headers) == 204, name
        assert receive(body, headers) == 400, name  # replayed
        forged = webhook_standard_headers(webhook_secret_new(), f"{name}-2", body)
        assert receive(body, forged) == 400, name
