"""The gateway: upstream MCP clients, the pin check, the gated ``tools/call``."""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.lowlevel.server import NotificationOptions
from quorum_sdk import ActionDenied, ActionExpired, QuorumClient, QuorumError, new_idempotency_key

from .keepalive import upstream_http_client
from .loop_ask import LoopAsk

log = logging.getLogger("quorum_mcp")
# The gate's decision line, on the SDK's logger as the SDK's gate writes it, whichever path asked.
sdk_log = logging.getLogger("quorum_sdk")

PINS_PATH = "/api/v1/agent/tool-pins/"


def definition_hash(name: str, description: str | None, input_schema: Mapping[str, Any] | None) -> str:
    """SHA-256 of the tool definition's canonical JSON (keys sorted, no whitespace, UTF-8 as is):
    the same value Quorum pins (``registry.canonical.tool_definition_hash``)."""
    document = {"name": name, "description": description or "", "input_schema": dict(input_schema or {})}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Upstream:
    """One upstream MCP server: ``stdio:<command line>`` or an ``http(s)://…/mcp`` URL."""

    target: str
    client: Client | None = field(default=None, repr=False)
    tools: dict[str, types.Tool] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Upstream:
        if spec.startswith(("http://", "https://")):
            return cls(spec)
        if spec.startswith("stdio:") and shlex.split(spec[len("stdio:") :]):
            return cls(spec)
        raise ValueError(f"Upstream {spec!r}: use stdio:<command> or an http(s)://…/mcp URL.")

    async def open(self, stack: AsyncExitStack, message_handler: Any) -> Client:
        """Connect (closed with ``stack``). Legacy mode (the initialize handshake) for every
        upstream: its session's GET stream is where ``tools/list_changed`` arrives. Over HTTP the
        connections are kept alive between calls (:mod:`quorum_mcp.keepalive`)."""
        if self.target.startswith("stdio:"):
            argv = shlex.split(self.target[len("stdio:") :])
            server: Any = StdioServerParameters(command=argv[0], args=argv[1:])
        else:
            http = await stack.enter_async_context(upstream_http_client())
            server = streamable_http_client(self.target, http_client=http)
        self.client = await stack.enter_async_context(
            Client(server, mode="legacy", cache=None, message_handler=message_handler)
        )
        return self.client


@dataclass(frozen=True)
class Hidden:
    """An upstream tool the agent does not see, and why (``tool_unpinned`` / ``tool_changed``)."""

    name: str
    status: str
    definition_hash: str
    change_request_id: int | None


class GatewayStartError(Exception):
    """The gateway could not start: an upstream did not connect or list its tools, or Quorum
    refused the key or could not be reached for the pins. The message names which and why."""


def exception_leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc``'s groups, depth first (anyio's and the ``mcp`` client's task
    groups wrap a transport's error, and whatever ends the loop), or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in exception_leaves(inner)]
    return [exc]


def failure_reason(exc: BaseException) -> str:
    """``exc`` in one line, as ``Type: message``: its first leaf (:func:`exception_leaves`)."""
    leaves = exception_leaves(exc)
    exc = leaves[0] if leaves else exc
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Gateway:
    """An MCP server for one agent (``quorum``: a client holding the agent's key) in front of
    ``upstreams``. ``approval_timeout``: how long a call that needs people waits before it answers
    an error (the action request itself stays open in Quorum until it expires)."""

    def __init__(
        self,
        quorum: QuorumClient,
        upstreams: list[Upstream],
        *,
        approval_timeout: float = 900.0,
        poll_initial: float = 0.5,
        poll_max: float = 5.0,
        record_runs: bool = True,
    ) -> None:
        if not upstreams:
            raise ValueError("The gateway needs at least one upstream MCP server.")
        self.quorum = quorum
        self.upstreams = upstreams
        self.approval_timeout = approval_timeout
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.record_runs = record_runs
        self.loop_ask = LoopAsk(quorum)
        self.visible: dict[str, tuple[Upstream, types.Tool]] = {}
        self.hidden: dict[str, Hidden] = {}
        self.version_label: str | None = None
        self._sessions: set[Any] = set()
        self._refresh_lock = anyio.Lock()
        self._task_group: anyio.abc.TaskGroup | None = None
        self.server: Server[Any] = Server(
            "quorum-mcp",
            version="0.1.0",
            instructions="Tools governed by Quorum: calls may be denied or wait for human approval.",
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    # --- upstreams --------------------------------------------------------------------------

    async def connect(self, stack: AsyncExitStack) -> None:
        """Connect every upstream (closed with ``stack``) and check their tools against the pins.
        Raises :class:`GatewayStartError` naming the upstream or Quorum when either fails."""
        for upstream in self.upstreams:
            try:
                await upstream.open(stack, self._handler(upstream))
            except Exception as exc:  # noqa: BLE001 - whatever the transport raised, the start failed
                raise GatewayStartError(f"upstream {upstream.target}: {failure_reason(exc)}") from exc
        try:
            await self.refresh()
        except QuorumError as exc:
            raise GatewayStartError(f"Quorum at {self.quorum.base_url}: {failure_reason(exc)}") from exc
        except Exception as exc:  # noqa: BLE001 - an upstream that connected but could not list its tools
            raise GatewayStartError(f"listing the upstreams' tools: {failure_reason(exc)}") from exc

    def _handler(self, upstream: Upstream):
        async def on_message(message: Any) -> None:
            if isinstance(message, types.ToolListChangedNotification) and self._task_group is not None:
                # Re-check outside the upstream's receive loop: the refresh calls the upstream back.
                self._task_group.start_soon(self.refresh)

        return on_message

    async def refresh(self) -> None:
        """List every upstream's tools, hash each, and show only the pinned ones; report the rest
        to Quorum (a violation and a pin request, once per distinct definition: Quorum dedups)."""
        async with self._refresh_lock:
            pins_doc = (await anyio.to_thread.run_sync(self.quorum.request, "GET", PINS_PATH)).json()
            self.version_label = pins_doc.get("version")
            pinned = {pin["name"]: pin["definition_hash"] for pin in pins_doc.get("pins", [])}
            visible: dict[str, tuple[Upstream, types.Tool]] = {}
            hidden: dict[str, Hidden] = {}
            for upstream in self.upstreams:
                assert upstream.client is not None
                listed = await upstream.client.list_tools()
                upstream.tools = {tool.name: tool for tool in listed.tools}
                for tool in listed.tools:
                    digest = definition_hash(tool.name, tool.description, tool.input_schema)
                    if pinned.get(tool.name) == digest and tool.name not in visible:
                        visible[tool.name] = (upstream, tool)
                        continue
                    hidden[tool.name] = await self._report(tool, digest)
            changed = set(visible) != set(self.visible)
            self.visible, self.hidden = visible, hidden
        if changed:
            await self._notify_list_changed()

    async def _report(self, tool: types.Tool, digest: str) -> Hidden:
        body = {"name": tool.name, "description": tool.description or "", "input_schema": tool.input_schema}
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self.quorum.request("POST", f"{PINS_PATH}report/", json=body)
            )
            answer = response.json()
        except QuorumError as exc:  # hidden all the same: fail closed
            log.warning("quorum-mcp: could not report %s: %s", tool.name, exc)
            return Hidden(tool.name, "unreported", digest, None)
        log.warning("quorum-mcp: %s hidden (%s, pin request #%s)", tool.name, answer["status"],
                    answer["change_request_id"])  # fmt: skip
        return Hidden(tool.name, answer["status"], digest, answer["change_request_id"])

    async def _notify_list_changed(self) -> None:
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
            except Exception:  # noqa: BLE001 - a closed agent session must not stop the others
                self._sessions.discard(session)

    # --- the agent's side ---------------------------------------------------------------------

    async def _list_tools(self, ctx, params) -> types.ListToolsResult:
        session = getattr(ctx, "session", None)
        if session is not None:
            self._sessions.add(session)
        return types.ListToolsResult(tools=[tool for _upstream, tool in self.visible.values()])

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        """A visible tool's input schema, which the MCP server checks a call's ``Mcp-Param-*``
        headers against. Without this lookup the server ran the whole ``tools/list`` handler
        before every call to find the schema (a listing costs ~0.3 ms in-process, client and server
        together); hidden and unknown tools answer ``None``, as that listing would."""
        entry = self.visible.get(name)
        return None if entry is None else entry[1].input_schema

    async def _call_tool(self, ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        name, arguments = params.name, dict(params.arguments or {})
        started = _now()
        if name not in self.visible:
            hidden = self.hidden.get(name)
            if hidden is None:
                return _error(f"Unknown tool {name}.")
            self._record(name, started, outcome="blocked", reason="policy_blocked")
            return _error(
                f"{name} is hidden by Quorum: its definition ({hidden.status.replace('_', ' ')}) is not pinned in "
                f"the agent's deployed version; pin request #{hidden.change_request_id} awaits two approvers."
            )
        upstream, _tool = self.visible[name]
        # One key for both paths: when the fast ask is not an "allowed", the SDK's gate replays it
        # and Quorum answers the request it stored (no second request; see quorum_mcp.loop_ask).
        key = new_idempotency_key("act")
        try:
            action = await self.loop_ask.allowed(name, arguments, key)
            if action is not None:
                sdk_log.info("quorum: %s %s (%s)", name, action["status"], action.get("id"))
            else:
                gate = self.quorum.gate(
                    name,
                    parameters=arguments,
                    wait_timeout=self.approval_timeout,
                    idempotency_key=key,
                    poll_initial=self.poll_initial,
                    poll_max=self.poll_max,
                )
                action = await anyio.to_thread.run_sync(gate.check)
        except ActionDenied as exc:
            self._record(name, started, outcome="blocked", reason="policy_blocked")
            return _error(f"Denied by Quorum: {exc.reason}")
        except ActionExpired as exc:
            self._record(name, started, outcome="blocked", reason="policy_blocked")
            return _error(f"Not approved in time by Quorum: {exc.reason}")
        except QuorumError as exc:  # no answer, no action
            self._record(name, started, outcome="failed", reason="tool_outage")
            return _error(f"Quorum could not be asked, so {name} was not called: {exc}")
        assert upstream.client is not None
        result = await upstream.client.call_tool(name, arguments)
        # DEBUG: the gate already logged its decision at INFO ("quorum: <tool> allowed (<id>)").
        log.debug("quorum-mcp: %s %s (%s) called", name, action.get("status"), action.get("id"))
        failed = bool(getattr(result, "is_error", False))
        self._record(name, started, outcome="failed" if failed else "resolved", reason="other" if failed else None)
        return result

    def _record(self, tool: str, started: str, *, outcome: str, reason: str | None) -> None:
        """One run summary per call (the tool, its outcome); never the arguments, which reach Quorum
        only through the action gate, redacted there by the tool's policy."""
        if not self.record_runs or not self.version_label:
            return
        summary = {
            "version_label": self.version_label,
            "channel": "mcp",
            "started_at": started,
            "ended_at": _now(),
            "outcome": outcome,
            "tool_calls": 1,
            "tools_used": [tool],
            "policy_blocks": 1 if reason == "policy_blocked" else 0,
        }
        if reason:
            summary["reason"] = reason
        self.quorum.exporter().submit(summary)

    # --- serving --------------------------------------------------------------------------------

    async def serve_stdio(self) -> None:
        """Serve one agent over this process's stdin/stdout."""
        from mcp.server.stdio import stdio_server

        # The upstreams' stack outside the task group (see serve_http).
        async with AsyncExitStack() as stack:
            await self.connect(stack)
            async with anyio.create_task_group() as group, stdio_server() as (read, write):
                self._task_group = group
                # Tell the agent its tool list can change (a pin approved, an upstream's change).
                options = self.server.create_initialization_options(NotificationOptions(tools_changed=True))
                try:
                    await self.server.run(read, write, options)
                finally:
                    self._task_group = None
                    self.loop_ask.close()
                group.cancel_scope.cancel()

    async def serve_http(self, sock, *, path: str = "/mcp") -> None:
        """Serve agents over streamable HTTP on an already bound socket (``--http PORT``)."""
        import uvicorn

        app = self.server.streamable_http_app(streamable_http_path=path)
        # The upstreams' stack outside the task group: with the group outside, a failed connect
        # cancelled the group's scope, and that cancellation reached the upstream client's closing
        # request instead, so the process died of a CancelledError that hid why it could not start.
        # Re-checks after tools/list_changed run in the group, cancelled before the upstreams close.
        async with AsyncExitStack() as stack:
            await self.connect(stack)
            async with anyio.create_task_group() as group:
                self._task_group = group
                config = uvicorn.Config(app, log_level="warning", lifespan="on")
                try:
                    await uvicorn.Server(config).serve(sockets=[sock])
                finally:
                    self._task_group = None
                    self.loop_ask.close()
                group.cancel_scope.cancel()
