"""Issue 17, item 3: the OpenAI Agents SDK example (sdk/python/examples/openai_agents_refund.py)
runs in the suite, without a model key, against a live Quorum: its scripted model asks for a
40 USD refund, which the action gate allows and the tool performs, and a 0 USD refund, which the
gate denies: the tool does not run and the model reads Quorum's reason instead."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

from actions.models import ActionRequest

from .conftest import in_own_thread

pytestmark = [pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "examples" / "openai_agents_refund.py"


def test_the_agents_sdk_example_routes_its_tool_through_the_gate(live_server, agent_key, gated_agent, monkeypatch):
    monkeypatch.setitem(os.environ, "QUORUM_URL", live_server.url)
    monkeypatch.setitem(os.environ, "QUORUM_AGENT_KEY", agent_key)
    example = runpy.run_path(str(EXAMPLE), run_name="example")
    output = in_own_thread(example["main"])
    assert "refunded 40 USD on order A-1001" in output
    assert "Denied by Quorum: A refund amount must be positive." in output
    assert "A-1002" not in output.split("Denied by Quorum")[0], "the denied refund never ran"
    decided = dict(ActionRequest.objects.values_list("parameters__order_id", "status"))
    assert decided == {"A-1001": "allowed", "A-1002": "denied"}
