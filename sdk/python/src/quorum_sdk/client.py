"""The HTTP client of an agent: its own key, timeouts, retries, idempotency keys, controls.

One :class:`QuorumClient` per agent process is enough; it is safe to share between threads
(the exporter's thread uses the same one)."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .errors import ActionDenied, ActionExpired, ActionTimeout, QuorumAPIError, QuorumUnavailable
from .retry import NO_RETRY, RETRY_STATUSES, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from .exporter import RunExporter
    from .gate import Gate, RunRecord
    from .webhooks import WebhookInbox

__all__ = ["ACTION_REQUESTS_PATH", "Controls", "QuorumClient", "action_request_body", "new_idempotency_key"]

log = logging.getLogger("quorum_sdk")

VERSION = "0.1.0"
ACTION_FINAL = {"allowed", "approved", "denied", "expired"}
F = TypeVar("F", bound=Callable[..., Any])


ACTION_REQUESTS_PATH = "/api/v1/action-requests/"


def new_idempotency_key(prefix: str = "sdk") -> str:
    """A fresh key for one write (``[A-Za-z0-9._:-]``, at most 100 characters, as Quorum asks)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def action_request_body(
    tool: str,
    parameters: Mapping[str, Any],
    *,
    idempotency_key: str,
    dry_run: bool = False,
    version: str | None = None,
    change_request_id: int | None = None,
) -> dict[str, Any]:
    """The JSON body of one ask of the action gate (``POST /api/v1/action-requests/``), as
    :meth:`QuorumClient.request_action` sends it (the MCP gateway sends the same body from its
    event loop)."""
    body: dict[str, Any] = {"tool": tool, "parameters": dict(parameters), "idempotency_key": idempotency_key}
    if dry_run:
        body["dry_run"] = True
    if version is not None:
        body["version"] = version
    if change_request_id is not None:
        body["change_request_id"] = change_request_id
    return body


@dataclass(frozen=True)
class Controls:
    """One answer of ``GET /api/v1/controls/`` and when it was last confirmed."""

    data: Mapping[str, Any]
    etag: str | None
    confirmed_at: float = field(default_factory=time.monotonic)  # time.monotonic() of the last 200/304

    @property
    def side_effects_enabled(self) -> bool:
        return bool(self.data.get("side_effects_enabled"))

    @property
    def bundle_digest(self) -> str | None:
        """The deployed version's bundle digest (what the OTel span processor stamps)."""
        deployed = self.data.get("deployed_version") or {}
        return deployed.get("bundle_digest")

    @property
    def version_label(self) -> str | None:
        deployed = self.data.get("deployed_version") or {}
        return deployed.get("label")

    def age(self) -> float:
        return time.monotonic() - self.confirmed_at


class QuorumClient:
    """An agent's connection to Quorum.

    ``base_url`` and ``api_key`` default to the ``QUORUM_URL`` and ``QUORUM_AGENT_KEY``
    environment variables. ``timeout`` bounds each HTTP attempt; ``retry`` says how often and
    how long to retry 429/503 and connection errors. ``controls_max_staleness`` is how old
    (seconds) the last confirmed controls may be before :meth:`side_effects_enabled` answers
    ``False`` (fail closed); ``controls_refresh_interval`` how often it asks Quorum again, and
    ``controls_timeout`` how long that check may take (it runs on the agent's hot path).
    ``webhook_inbox``: where gates wait for the action webhook (they still poll, more slowly)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        controls_max_staleness: float = 60.0,
        controls_refresh_interval: float | None = None,
        controls_timeout: float = 2.0,
        webhook_inbox: WebhookInbox | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("QUORUM_URL")
        api_key = api_key or os.environ.get("QUORUM_AGENT_KEY")
        if not base_url or not api_key:
            raise ValueError("QuorumClient needs base_url and api_key (or QUORUM_URL and QUORUM_AGENT_KEY).")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        # A caller's own transport (a test's mock, a proxy): whoever talks to Quorum without this
        # client's httpx (the MCP gateway's ask from its event loop) must then not bypass it.
        self.transport = transport
        self.retry = retry or RetryPolicy()
        self.controls_max_staleness = controls_max_staleness
        self.controls_refresh_interval = (
            controls_refresh_interval if controls_refresh_interval is not None else min(5.0, controls_max_staleness / 3)
        )
        self.controls_timeout = controls_timeout
        self.webhook_inbox = webhook_inbox
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": f"quorum-sdk-python/{VERSION}"},
            transport=transport,
        )
        self._controls: Controls | None = None
        self._controls_tried_at = float("-inf")
        self._controls_lock = threading.Lock()
        self._exporter: RunExporter | None = None
        self._exporter_lock = threading.Lock()

    # --- plumbing ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        retry: RetryPolicy | None = None,
        expect: Iterable[int] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request, retrying 429/503 and connection errors per the retry policy.

        A write (``POST``) always carries an ``Idempotency-Key`` header (made here when not
        given), the same on every retry. Returns a 2xx response or one whose status is in
        ``expect``; raises :class:`QuorumAPIError` for other 4xx/5xx answers and
        :class:`QuorumUnavailable` when retries are exhausted. ``timeout`` overrides the
        client's for this request."""
        policy = retry or self.retry
        per_request = httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout)
        sent_headers = dict(headers or {})
        if method.upper() in {"POST", "PUT", "PATCH", "DELETE"}:
            sent_headers.setdefault("Idempotency-Key", idempotency_key or new_idempotency_key())
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, path, json=json, headers=sent_headers, timeout=per_request)
            except httpx.TransportError as exc:
                if attempt >= policy.max_attempts:
                    raise QuorumUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                wait = policy.delay(attempt, None)
                log.info("quorum: %s %s failed (%s); retry %d in %.2fs", method, path, exc, attempt, wait)
                time.sleep(wait)
                continue
            if response.status_code not in RETRY_STATUSES:
                return self._checked(response, expect)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempt >= policy.max_attempts or (retry_after or 0) > policy.max_retry_after:
                raise QuorumUnavailable(
                    f"{method} {path}: HTTP {response.status_code} after {attempt} attempt(s)",
                    status_code=response.status_code,
                    retry_after=retry_after,
                )
            wait = policy.delay(attempt, retry_after)
            log.info("quorum: %s %s answered %d; retry %d in %.2fs", method, path, response.status_code, attempt, wait)
            time.sleep(wait)

    @staticmethod
    def _checked(response: httpx.Response, expect: Iterable[int]) -> httpx.Response:
        if response.is_success or response.status_code in set(expect):
            return response
        try:
            body = response.json()
        except ValueError:
            body = response.text
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            errors = [{"code": "http_error", "field": None, "message": str(body)[:200]}]
        raise QuorumAPIError(response.status_code, errors, body)

    def close(self) -> None:
        """Flush the exporter (if one was made) and close the connections."""
        if self._exporter is not None:
            self._exporter.close()
        self._http.close()

    def __enter__(self) -> QuorumClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- who am I ----------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """Which agent the key acts as: ``{"agent", "key_prefix", "key_expires_at"}``."""
        return self.request("GET", "/api/v1/agent/whoami/").json()

    # --- runs --------------------------------------------------------------------------------

    def send_run(self, run: Mapping[str, Any]) -> dict[str, Any]:
        """Store one run summary now (``POST /api/v1/runs/``). ``run_id`` is the idempotency
        key: one is made when missing, and a retry of the same run answers ``duplicate``."""
        body = dict(run)
        body.setdefault("run_id", new_idempotency_key("run"))
        return self.request("POST", "/api/v1/runs/", json=body, idempotency_key=body["run_id"]).json()

    def send_runs(self, runs: Iterable[Mapping[str, Any]], *, retry: RetryPolicy | None = None) -> dict[str, Any]:
        """Store up to 1,000 run summaries in one call (``POST /api/v1/runs/batch/``); each
        gets a ``run_id`` when it has none. Answers the counts and one result per index."""
        items = [dict(run) for run in runs]
        for item in items:
            item.setdefault("run_id", new_idempotency_key("run"))
        key = new_idempotency_key("batch")
        return self.request(
            "POST", "/api/v1/runs/batch/", json={"runs": items}, idempotency_key=key, retry=retry
        ).json()

    def exporter(self, **options: Any) -> RunExporter:
        """This client's background exporter (made, and its thread started, on first use;
        ``options`` go to :class:`~quorum_sdk.exporter.RunExporter` then)."""
        from .exporter import RunExporter

        with self._exporter_lock:
            if self._exporter is None:
                self._exporter = RunExporter(self, **options)
            return self._exporter

    def run(self, **fields: Any) -> RunRecord:
        """A run summary filled in as the agent works, exported when the ``with`` block ends:
        times, status (``error`` when the block raised), and every gate opened inside it
        (tool calls, tools used, policy blocks)."""
        from .gate import RunRecord

        return RunRecord(self, fields)

    # --- controls ----------------------------------------------------------------------------

    def controls(self, *, refresh: bool = True) -> Controls:
        """The agent's runtime controls. With ``refresh`` asks Quorum (sending the cached ETag
        in ``If-None-Match``: an unchanged answer is an empty 304) and raises when it cannot;
        without, answers the cache (fetching once when there is none)."""
        with self._controls_lock:
            if refresh or self._controls is None:
                self._refresh_controls(timeout=None)
            assert self._controls is not None
            return self._controls

    def _refresh_controls(self, *, timeout: float | None) -> None:
        self._controls_tried_at = time.monotonic()
        cached = self._controls
        headers = {"If-None-Match": cached.etag} if cached and cached.etag else {}
        # One attempt: a controls check must not sleep through backoff on the agent's hot path.
        response = self.request(
            "GET", "/api/v1/controls/", headers=headers, retry=NO_RETRY, expect=(304,), timeout=timeout
        )
        if response.status_code == 304 and cached is not None:
            self._controls = Controls(cached.data, cached.etag)
        else:
            self._controls = Controls(response.json(), response.headers.get("ETag"))

    def side_effects_enabled(self) -> bool:
        """May the agent act on the world right now?

        Asks Quorum at most every ``controls_refresh_interval`` seconds (cheap: a 304 when
        nothing changed). Fails closed: ``False`` when the kill switch is pulled, and also when
        the last confirmed answer is older than ``controls_max_staleness`` because Quorum could
        not be reached. Never raises."""
        with self._controls_lock:
            if time.monotonic() - self._controls_tried_at >= self.controls_refresh_interval:
                try:
                    self._refresh_controls(timeout=self.controls_timeout)
                except (QuorumUnavailable, QuorumAPIError) as exc:
                    log.warning("quorum: controls not refreshed: %s", exc)
            controls = self._controls
        if controls is None or controls.age() > self.controls_max_staleness:
            return False
        return controls.side_effects_enabled

    # --- the action gate ---------------------------------------------------------------------

    def request_action(
        self,
        tool: str,
        parameters: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        dry_run: bool = False,
        version: str | None = None,
        change_request_id: int | None = None,
    ) -> dict[str, Any]:
        """Ask the action gate (``POST /api/v1/action-requests/``). Answers the request:
        ``status`` is ``allowed``, ``denied`` or ``pending``. The idempotency key (made when
        not given) makes a retried or replayed ask answer the same stored request."""
        key = idempotency_key or new_idempotency_key("act")
        body = action_request_body(
            tool, parameters, idempotency_key=key, dry_run=dry_run, version=version, change_request_id=change_request_id
        )
        return self.request("POST", ACTION_REQUESTS_PATH, json=body, idempotency_key=key).json()

    def get_action(self, action_id: str) -> dict[str, Any]:
        """Poll one request (``GET /api/v1/action-requests/{id}/``)."""
        return self.request("GET", f"/api/v1/action-requests/{action_id}/").json()

    def wait_for_action(
        self,
        action: Mapping[str, Any],
        *,
        timeout: float = 900.0,
        poll_initial: float = 0.5,
        poll_max: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until a pending request is decided, and answer it when it may go ahead
        (``allowed`` / ``approved``). Polls with backoff (``poll_initial`` growing by half each
        time up to ``poll_max``); with a ``webhook_inbox`` the webhook wakes it at once.

        Raises :class:`ActionDenied`, :class:`ActionExpired`, or :class:`ActionTimeout` after
        ``timeout`` seconds with the request still pending."""
        current = dict(action)
        deadline = time.monotonic() + timeout
        interval = poll_initial
        while True:
            status = current.get("status")
            if status in {"allowed", "approved"}:
                return current
            if status == "denied":
                raise ActionDenied(current)
            if status == "expired":
                raise ActionExpired(current)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ActionTimeout(current, f"no decision within {timeout:g}s (still pending on the server)")
            pause = min(interval, left)
            if self.webhook_inbox is not None:
                delivered = self.webhook_inbox.wait(str(current["id"]), pause)
                if delivered is not None:
                    current = dict(delivered)
                    continue
            else:
                time.sleep(pause)
            interval = min(poll_max, interval * 1.5)
            current = self.get_action(str(current["id"]))

    def gate(
        self,
        tool: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        wait_timeout: float = 900.0,
        idempotency_key: str | None = None,
        version: str | None = None,
        change_request_id: int | None = None,
        poll_initial: float = 0.5,
        poll_max: float = 10.0,
        **params: Any,
    ) -> Gate:
        """Guard one side-effecting call with the action gate; a context manager and a
        decorator (see :class:`~quorum_sdk.gate.Gate`). The tool's parameters are the keyword
        arguments (or ``parameters=``, for names that clash with the options here)."""
        from .gate import Gate

        return Gate(
            self,
            tool,
            {**(parameters or {}), **params},
            wait_timeout=wait_timeout,
            idempotency_key=idempotency_key,
            version=version,
            change_request_id=change_request_id,
            poll_initial=poll_initial,
            poll_max=poll_max,
        )
