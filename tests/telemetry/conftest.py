from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from registry.choices import VersionState
from tests.factories import AgentVersionFactory, ToolFactory, ToolGrantFactory


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters():
    cache.clear()
    yield


@pytest.fixture
def deployed_version(agent):
    """Version 1.1 of ``agent``: approved and deployed, model gpt-4o, granted tickets.read and tickets.reply."""
    version = AgentVersionFactory(agent=agent, label="1.1", model_name="gpt-4o")
    for name in ("tickets.read", "tickets.reply"):
        ToolGrantFactory(version=version, tool=ToolFactory(name=name, action_tier=0))
    version.refresh_bundle_digest()
    version.state = VersionState.DEPLOYED
    version.approved_at = timezone.now() - timedelta(days=3)
    version.save()
    return version


@pytest.fixture
def run_payload(deployed_version):
    """``run_payload(**overrides)`` → a valid run summary for the deployed version."""
    counter = iter(range(1_000_000))

    def make(**overrides):
        started = timezone.now() - timedelta(minutes=10)
        data = {
            "run_id": f"run-{next(counter)}",
            "version_label": "1.1",
            "model": "gpt-4o",
            "channel": "chat",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(seconds=42)).isoformat(),
            "status": "ok",
            "outcome": "resolved",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cost_usd": "0.012300",
            "tool_calls": 2,
            "tools_used": ["tickets.read"],
            "human_minutes": "0",
            "metadata": {"ticket": "ZD-1"},
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not ...}

    return make
