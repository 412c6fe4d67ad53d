"""``quorum-mcp``: run the gateway for one agent.

    QUORUM_URL=http://127.0.0.1:8000 QUORUM_AGENT_KEY=... \\
        quorum-mcp --upstream "stdio:python -m quorum_mcp.sample_upstream" [--http 8765]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from quorum_sdk import QuorumClient

from .eventloop import run
from .gateway import Gateway, GatewayStartError, Upstream, exception_leaves
from .listen import ListenError, listening_socket, port_argument


def configure_logging() -> None:
    """INFO on stderr: one line per tool call (quorum_sdk's gate decision), warnings, hidden tools."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # httpx (the SDK's client, asking Quorum) and httpx2 (mcp's, calling the upstream) log every
    # request at INFO: two more lines per tool call, written on the call's path.
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _stop(signum, frame) -> None:
    """SIGINT (Ctrl-C) and SIGTERM: ``KeyboardInterrupt`` where the process is, so the stack
    unwinds and ``main`` closes the client, sending the run records its exporter still holds.

    Over HTTP, uvicorn takes both signals while it serves (it stops taking connections and lets
    the calls in flight finish), then puts these handlers back and sends the signal again.
    Python's default for SIGTERM then killed the process before the exporter's last batch left
    (up to two seconds of calls' records lost). For SIGINT, asyncio's runner put in its own
    handler, which cancels the main task: that cancellation reached the upstreams' closing
    requests and Ctrl-C ended in a CancelledError traceback with exit status 1. Installed before
    the loop starts, this handler is kept by the runner."""
    raise KeyboardInterrupt


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def main(argv: list[str] | None = None) -> None:
    """Run the gateway until the agent's session ends (stdio) or until SIGINT or SIGTERM (over
    HTTP uvicorn first stops taking connections and lets calls in flight finish); then send the
    run records still held and exit 0. A gateway that cannot start prints why on one line and
    exits 1."""
    parser = argparse.ArgumentParser(prog="quorum-mcp", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="append", required=True, help="stdio:<command> or http(s)://…/mcp; repeat")
    parser.add_argument("--url", help="Quorum's base URL (default: $QUORUM_URL)")
    parser.add_argument("--key", help="the agent's key (default: $QUORUM_AGENT_KEY)")
    parser.add_argument(
        "--http", type=port_argument, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT (0: any)"
    )
    parser.add_argument("--approval-timeout", type=_seconds, default=900.0, help="seconds a call waits for people")
    parser.add_argument("--poll", type=_seconds, default=0.5, help="first poll interval while waiting (seconds)")
    args = parser.parse_args(argv)
    try:
        upstreams = [Upstream.parse(spec) for spec in args.upstream]
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging()
    try:
        quorum = QuorumClient(args.url, args.key)
    except ValueError as exc:  # no URL or no key
        parser.error(str(exc))
    gateway = Gateway(quorum, upstreams, approval_timeout=args.approval_timeout, poll_initial=args.poll)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop)
    try:
        if args.http is None:
            run(gateway.serve_stdio)
        else:
            sock = listening_socket(args.http)
            print(f"PORT {sock.getsockname()[1]}", flush=True)
            run(gateway.serve_http, sock)
    except BaseException as exc:  # noqa: BLE001 - sorted below; anything else is raised again
        leaves = exception_leaves(exc)
        start = next((leaf for leaf in leaves if isinstance(leaf, GatewayStartError | ListenError)), None)
        if start is not None:
            print(f"quorum-mcp: cannot start: {start}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        if not all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            raise
        # Stopped by SIGINT or SIGTERM (over HTTP, uvicorn let the calls in flight finish first).
    finally:
        quorum.close()


if __name__ == "__main__":
    main()
