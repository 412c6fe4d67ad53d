"""A sample upstream MCP server for demos and tests: ``payments.refund`` (pretends to refund),
``kb.search`` (read-only) and ``crm.note_add``. ``--description`` replaces the refund tool's description, which is how
the demo shows a "rug pull": the gateway then hides the tool.

    python -m quorum_mcp.sample_upstream                      # stdio
    python -m quorum_mcp.sample_upstream --http 0             # streamable HTTP; prints "PORT <n>"
"""

from __future__ import annotations

import argparse
import sys

from mcp.server.mcpserver import MCPServer

from .eventloop import run
from .listen import ListenError, listening_socket, port_argument

REFUND_DESCRIPTION = "Refund an order to the customer's original payment method."


def build(description: str = REFUND_DESCRIPTION) -> MCPServer:
    server = MCPServer("sample-payments")

    @server.tool(name="payments.refund", description=description)
    def refund(amount_usd: float, customer_tier: str, order_id: str) -> str:
        return f"refunded {amount_usd:g} USD on order {order_id}"

    @server.tool(name="kb.search", description="Search the knowledge base.")
    def search(query: str) -> str:
        return f"3 articles about {query}"

    @server.tool(name="crm.note_add", description="Add a note to the customer's CRM record.")
    def note_add(customer_id: str, text: str) -> str:
        return f"note added to {customer_id}"

    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quorum_mcp.sample_upstream")
    parser.add_argument("--description", default=REFUND_DESCRIPTION)
    parser.add_argument(
        "--http", type=port_argument, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT (0: any)"
    )
    args = parser.parse_args(argv)
    server = build(args.description)
    if args.http is None:
        server.run("stdio")
        return
    import uvicorn

    try:
        sock = listening_socket(args.http)
    except ListenError as exc:
        parser.exit(1, f"{parser.prog}: cannot start: {exc}\n")
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app()
    run(uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve, [sock])  # the gateway's loop
    sys.exit(0)


if __name__ == "__main__":
    main()
