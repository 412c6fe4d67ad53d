"""The agent card's section: what the documentation gate and the FRIA gate say now, and the links."""

from __future__ import annotations

from .assessments import fria_gate_reason
from .documents import documentation_gate_reason


def documents_agent_section(request, agent):
    """Shown to everyone who sees the agent: the gates are facts about it, not secrets."""
    return {
        "template": "compliance/sections/agent_card.html",
        "agent": agent,
        "missing": documentation_gate_reason(agent),
        "fria": fria_gate_reason(agent),
    }
