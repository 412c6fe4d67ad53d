"""``quorum-mcp``: run the gateway for one agent.

    QUORUM_URL=http://127.0.0.1:8000 QUORUM_AGENT_KEY=... \\
        quorum-mcp --upstream "stdio:python -m quorum_mcp.sample_upstream" [--http 8765]
"""

from __future__ import annotations

import argparse
import logging
import socket

from quorum_sdk import QuorumClient

from .eventloop import run
from .gateway import Gateway, Upstream


def configure_logging() -> None:
    """INFO on stderr: one line per tool call (quorum_sdk's gate decision), warnings, hidden tools."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # httpx (the SDK's client, asking Quorum) and httpx2 (mcp's, calling the upstream) log every
    # request at INFO: two more lines per tool call, written on the call's path.
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quorum-mcp", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="append", required=True, help="stdio:<command> or http(s)://…/mcp; repeat")
    parser.add_argument("--url", help="Quorum's base URL (default: $QUORUM_URL)")
    parser.add_argument("--key", help="the agent's key (default: $QUORUM_AGENT_KEY)")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT (0: any)")
    parser.add_argument("--approval-timeout", type=float, default=900.0, help="seconds a call waits for people")
    parser.add_argument("--poll", type=float, default=0.5, help="first poll interval while waiting (seconds)")
    args = parser.parse_args(argv)
    try:
        upstreams = [Upstream.parse(spec) for spec in args.upstream]
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging()
    quorum = QuorumClient(args.url, args.key)
    gateway = Gateway(quorum, upstreams, approval_timeout=args.approval_timeout, poll_initial=args.poll)
    try:
        if args.http is None:
            run(gateway.serve_stdio)
        else:
            # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so (Nagle and the
            # peer's delayed ACK otherwise hold the last small write of each answer ~40 ms on loopback).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.bind(("127.0.0.1", args.http))
            # Listen before telling the port: a client that connects while the upstreams are still
            # being checked waits in the backlog instead of being refused.
            sock.listen(128)
            print(f"PORT {sock.getsockname()[1]}", flush=True)
            run(gateway.serve_http, sock)
    except KeyboardInterrupt:
        pass
    finally:
        quorum.close()


if __name__ == "__main__":
    main()
