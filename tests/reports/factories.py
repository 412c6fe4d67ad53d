"""Runs for report tests, written straight into telemetry's table (as ingest would)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

from telemetry.models import Run

_seq = itertools.count(1)


def make_run(
    agent,
    *,
    started_at: datetime,
    version=None,
    outcome: str = "resolved",
    status: str = "ok",
    latency_ms: int = 1000,
    cost_usd: Decimal | str = "0.01",
    human_minutes: Decimal | str = "0",
    input_tokens: int = 100,
    output_tokens: int = 50,
    tool_calls: int = 1,
    policy_blocks: int = 0,
    save: bool = True,
) -> Run:
    run = Run(
        agent=agent,
        version=version,
        run_id=f"r-{next(_seq)}",
        started_at=started_at,
        ended_at=started_at + timedelta(milliseconds=latency_ms),
        latency_ms=latency_ms,
        status=status,
        outcome=outcome,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=Decimal(cost_usd),
        tool_calls=tool_calls,
        policy_blocks=policy_blocks,
        human_minutes=Decimal(human_minutes),
    )
    if save:
        run.save()
    return run
