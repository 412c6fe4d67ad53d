"""Compliance pages at demo scale: intake, documents, the A2A card (``python -m bench intake_documents``).

On the harness's stack (fresh database, ``seed_demo``, gunicorn with production settings) an
auditor's session reads the agent with full evidence (Customer Support Triage):

* the agent card (``/agents/support-triage/``), which now carries the documentation and FRIA
  gates' section, against the documents page (``/compliance/agents/support-triage/documents/``);
* the intake list with its funnel and the A2A card JSON, each timed alone (one client).

Printed: each page's latency (goal ≤ 300 ms) and the documents page's throughput relative to the
agent card's (interleaved with the A/A control)."""

from __future__ import annotations

from bench import harness


def main(args: list[str]) -> None:
    opts = harness.options("intake_documents", args, requests=30, rounds=5)
    with harness.Stack("intake_documents", workers=1, demo=True) as stack:
        cookie = stack.session_cookie("auditor")
        agent_page = harness.get("/agents/support-triage/", headers=cookie)
        documents_page = harness.get("/compliance/agents/support-triage/documents/", headers=cookie)
        pages = {
            "documents page": documents_page,
            "intake list and funnel": harness.get("/compliance/intake/", headers=cookie),
            "A2A agent card JSON": harness.get("/compliance/agents/support-triage/card.json", headers=cookie),
        }
        for label, page in pages.items():

            def one_ms(page=page) -> float:
                return 1000 / harness.http_load(stack.url, page, total=opts.requests // 2, clients=1)

            harness.measure(f"{label}, demo", one_ms, unit="ms", rounds=opts.rounds, goal=("<=", 300.0))
        harness.compare(
            "documents page ÷ agent card (throughput)",
            lambda: harness.http_load(stack.url, agent_page, total=opts.requests, clients=2),
            lambda: harness.http_load(stack.url, documents_page, total=opts.requests, clients=2),
            unit="req/s",
            rounds=opts.rounds,
        )
