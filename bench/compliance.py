"""Framework mapping at demo scale (``make bench`` or ``python -m bench compliance``).

On the harness's stack (fresh database, ``seed_demo``, gunicorn with production settings) an
auditor's session reads:

* the portfolio's framework mapping (``/compliance/frameworks/``): every control of the catalogue,
  each evidence query run once over the whole portfolio; goal ≤ 1,000 ms;
* A: the demo support agent's card (``/agents/support-triage/``), the baseline;
* B: its framework mapping (``/compliance/frameworks/agents/support-triage/``).

Printed: the portfolio page's latency (one client, sequential requests) and the throughput of the
agent's mapping against its card (interleaved with the A/A control)."""

from __future__ import annotations

from bench import harness


def main(args: list[str]) -> None:
    opts = harness.options("compliance", args, requests=20, rounds=5)
    with harness.Stack("compliance", workers=1, demo=True) as stack:
        cookie = stack.session_cookie("auditor")
        portfolio = harness.get("/compliance/frameworks/", headers=cookie)
        card = harness.get("/agents/support-triage/", headers=cookie)
        mapping = harness.get("/compliance/frameworks/agents/support-triage/", headers=cookie)

        def portfolio_ms() -> float:
            return 1000 / harness.http_load(stack.url, portfolio, total=opts.requests // 2, clients=1)

        harness.measure(
            "framework mapping, portfolio page", portfolio_ms, unit="ms", rounds=opts.rounds, goal=("<=", 1000.0)
        )
        harness.compare(
            "agent's framework mapping ÷ agent card (throughput)",
            lambda: harness.http_load(stack.url, card, total=opts.requests, clients=2),
            lambda: harness.http_load(stack.url, mapping, total=opts.requests, clients=2),
            unit="req/s",
            rounds=opts.rounds,
        )
