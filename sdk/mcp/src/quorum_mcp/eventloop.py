"""The event loop the gateway (and the sample upstream) serve on: uvloop where installed.

The gateway's event loop does all of a gated call's work except the gate's own ask (the MCP
server the agent talks to, the MCP client of the upstream), so its CPU per call is on the call's
path. uvloop (a dependency of quorum-mcp except on Windows) and httptools (uvicorn's faster
request parser, which uvicorn picks by itself when installed) cut that CPU: 4.0 → 3.6 ms of
event-loop CPU per gated call (with the SDK exporter's change of the same day), measured in process
on a loaded two-core machine (README, "MCP gateway").
The sample upstream runs on the same loop, so the benchmark's direct call and its call through
the gateway are served by the same stack."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

__all__ = ["run"]


def run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """``anyio.run(fn, *args)``, on uvloop when it can be imported."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return anyio.run(fn, *args)
    return anyio.run(fn, *args, backend_options={"use_uvloop": True})
