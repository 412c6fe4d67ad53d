"""``gate()``: ask Quorum's action gate before a side effect; and the run summary it records into.

::

    with client.gate("payments.refund", amount_usd=120, customer_tier="standard", order_id="A-1"):
        stripe.Refund.create(...)          # only reached when allowed (or approved by people)

    @client.gate("payments.refund")
    def refund(amount_usd, customer_tier, order_id): ...   # the call's arguments are the parameters
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ActionDenied, ActionExpired, ActionTimeout, QuorumError

if TYPE_CHECKING:
    from .client import QuorumClient

__all__ = ["Gate", "RunRecord", "current_run"]

log = logging.getLogger("quorum_sdk")
F = TypeVar("F", bound=Callable[..., Any])

_current_run: contextvars.ContextVar[RunRecord | None] = contextvars.ContextVar("quorum_run", default=None)


def current_run() -> RunRecord | None:
    """The run summary open in this context (``with client.run(...)``), if any."""
    return _current_run.get()


class Gate:
    """One guarded action. As a context manager: ``__enter__`` asks the gate and returns the
    request once it may go ahead, waiting for people when it is pending; it raises
    :class:`ActionDenied` (with Quorum's reason), :class:`ActionExpired` (or its subclass
    :class:`ActionTimeout`), or :class:`QuorumUnavailable` (fail closed: no answer, no action).
    As a decorator: each call of the function is one action, its bound arguments (without
    ``self``/``cls``) merged over the gate's own parameters, with a fresh idempotency key.

    The outcome is recorded: ``decision`` (``allowed``/``approved``/``denied``/``expired``/
    ``timeout``/``unavailable``), ``executed`` (the guarded block ran without raising), and the
    open run summary, if any, counts the tool call, the tool and any policy block."""

    def __init__(
        self,
        client: QuorumClient,
        tool: str,
        parameters: Mapping[str, Any],
        *,
        wait_timeout: float,
        idempotency_key: str | None,
        version: str | None,
        change_request_id: int | None,
        poll_initial: float,
        poll_max: float,
    ) -> None:
        self.client = client
        self.tool = tool
        self.parameters = dict(parameters)
        self.wait_timeout = wait_timeout
        self.idempotency_key = idempotency_key
        self.version = version
        self.change_request_id = change_request_id
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.action: dict[str, Any] | None = None
        self.decision: str | None = None
        self.executed: bool | None = None
        self.waited_seconds = 0.0

    # --- asking ------------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Ask, wait if pending, and return the request when the action may go ahead."""
        started = time.monotonic()
        try:
            self.action = self.client.request_action(
                self.tool,
                self.parameters,
                idempotency_key=self.idempotency_key,
                version=self.version,
                change_request_id=self.change_request_id,
            )
            self.action = self.client.wait_for_action(
                self.action, timeout=self.wait_timeout, poll_initial=self.poll_initial, poll_max=self.poll_max
            )
        except ActionDenied as exc:
            self._record_refusal("denied", exc.action, exc.reason)
            raise
        except ActionExpired as exc:
            kind = "timeout" if isinstance(exc, ActionTimeout) else "expired"
            self._record_refusal(kind, exc.action, exc.reason)
            raise
        except QuorumError as exc:
            self._record_refusal("unavailable", None, str(exc))
            raise
        finally:
            self.waited_seconds = time.monotonic() - started
        self.decision = self.action["status"]
        log.info("quorum: %s %s (%s)", self.tool, self.decision, self.action.get("id"))
        return self.action

    def _record_refusal(self, decision: str, action: dict[str, Any] | None, reason: str) -> None:
        self.decision = decision
        self.action = action or self.action
        self.executed = False
        log.info("quorum: %s not done: %s (%s)", self.tool, decision, reason)
        run = current_run()
        if run is not None:
            run.gate_refused(self.tool, decision)

    # --- context manager ---------------------------------------------------------------------

    def __enter__(self) -> dict[str, Any]:
        return self.check()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.executed = exc_type is None
        run = current_run()
        if run is not None:
            run.gate_passed(self.tool, executed=self.executed)

    # --- decorator ---------------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            call_params = dict(self.parameters)
            for name, value in bound.arguments.items():
                kind = signature.parameters[name].kind
                if name in ("self", "cls") or kind is inspect.Parameter.VAR_POSITIONAL:
                    continue
                if kind is inspect.Parameter.VAR_KEYWORD:
                    call_params.update(value)
                else:
                    call_params[name] = value
            one = Gate(
                self.client,
                self.tool,
                call_params,
                wait_timeout=self.wait_timeout,
                idempotency_key=None,  # one key per call: each call is a new action
                version=self.version,
                change_request_id=self.change_request_id,
                poll_initial=self.poll_initial,
                poll_max=self.poll_max,
            )
            with one:
                return fn(*args, **kwargs)

        return guarded  # type: ignore[return-value]


class RunRecord:
    """A run summary filled in while the agent works and handed to the client's background
    exporter when the ``with`` block ends (``client.run(version_label=..., model=...)``).

    ``started_at``/``ended_at`` are taken from the block; ``version_label`` defaults to the
    deployed version of the cached controls. A block that raises is ``status: error``,
    ``outcome: failed`` (``blocked``/``policy_blocked`` when a gate said no); a clean one is
    ``resolved`` unless the code set ``outcome`` itself. Gates opened inside add their tool."""

    def __init__(self, client: QuorumClient, fields: Mapping[str, Any]) -> None:
        self.client = client
        self.fields: dict[str, Any] = dict(fields)
        self.tools_used: list[str] = list(self.fields.pop("tools_used", []))
        self.tool_calls = int(self.fields.pop("tool_calls", 0))
        self.policy_blocks = int(self.fields.pop("policy_blocks", 0))
        self._token: contextvars.Token[RunRecord | None] | None = None
        self.summary: dict[str, Any] | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        self.fields[key] = value

    def gate_passed(self, tool: str, *, executed: bool) -> None:
        self.tool_calls += 1
        if tool not in self.tools_used:
            self.tools_used.append(tool)

    def gate_refused(self, tool: str, decision: str) -> None:
        if decision == "denied":
            self.policy_blocks += 1

    def __enter__(self) -> RunRecord:
        self.fields.setdefault("started_at", _now())
        self._token = _current_run.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current_run.reset(self._token)
        summary = dict(self.fields)
        summary.setdefault("ended_at", _now())
        if "version_label" not in summary:
            controls = self.client.controls(refresh=False)
            summary["version_label"] = controls.version_label or "unknown"
        if exc_type is not None:
            summary.setdefault("status", "error")
            if issubclass(exc_type, ActionDenied):
                summary.setdefault("outcome", "blocked")
                summary.setdefault("reason", "policy_blocked")
            else:
                summary.setdefault("outcome", "failed")
                summary.setdefault("reason", "other")
        summary.setdefault("outcome", "resolved")
        summary["tool_calls"] = self.tool_calls
        summary["tools_used"] = self.tools_used
        summary["policy_blocks"] = self.policy_blocks
        self.summary = summary
        self.client.exporter().submit(summary)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
