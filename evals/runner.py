"""Calling an agent's eval endpoint with each case: timeouts, bounded concurrency, retries.

The protocol: ``POST <endpoint>`` with ``{"case": key, "input": {...}}``, headers
``Authorization: Bearer <secret>`` and ``X-Quorum-Signature: sha256=<HMAC of the body>``.
The agent answers ``{"output": <any JSON>, "cost_usd": "0.0012"}`` (cost optional)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from registry.outbound import OutboundError, guarded_client

from .scorers import JudgeUnavailable, Score, score_output

# Worth another attempt: the agent may be restarting or shedding load.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CaseSpec:
    case_id: int | None
    key: str
    input: Any
    scorer: str
    expected: Any
    options: dict


@dataclass(frozen=True)
class TargetSpec:
    url: str
    secret: str
    timeout: float
    concurrency: int
    max_retries: int
    backoff: float


@dataclass
class CaseOutcome:
    case_id: int | None
    key: str
    scorer: str
    output: Any = None
    score: Decimal | None = None
    passed: bool = False
    latency_ms: int | None = None
    cost_usd: Decimal | None = None
    attempts: int = 0
    error: str = ""
    judge_identity: tuple[str, str, str] | None = None
    judge_reason: str = ""


class CallFailed(Exception):
    def __init__(self, message: str, attempts: int, latency_ms: int | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.latency_ms = latency_ms


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def call_case(client: httpx.Client, target: TargetSpec, case: CaseSpec, sleep=time.sleep) -> tuple[Any, int, Any, int]:
    """One case against the agent, retrying transient failures with exponential backoff and
    jitter. Returns (output, latency ms of the successful attempt, cost, attempts)."""
    body = json.dumps({"case": case.key, "input": case.input}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Quorum-Case": case.key}
    if target.secret:
        headers["Authorization"] = f"Bearer {target.secret}"
        headers["X-Quorum-Signature"] = _sign(target.secret, body)
    last_error = ""
    latency_ms = None
    for attempt in range(1, target.max_retries + 2):
        if attempt > 1:
            delay = target.backoff * (2 ** (attempt - 2))
            sleep(delay + random.uniform(0, delay / 2))
        started = time.monotonic()
        try:
            response = client.post(target.url, content=body, headers=headers, timeout=target.timeout)
        except OutboundError as exc:
            # An internal address or an oversized answer: no retry can change that.
            raise CallFailed(str(exc), attempt) from None
        except httpx.TimeoutException:
            latency_ms = int((time.monotonic() - started) * 1000)
            last_error = f"timed out after {target.timeout:g} s"
            continue
        except httpx.TransportError as exc:
            latency_ms = None
            last_error = f"connection failed: {exc.__class__.__name__}"
            continue
        latency_ms = int((time.monotonic() - started) * 1000)
        if response.status_code in RETRY_STATUSES:
            last_error = f"HTTP {response.status_code}"
            continue
        if response.status_code >= 400:
            raise CallFailed(f"HTTP {response.status_code} (not retried)", attempt, latency_ms)
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise CallFailed("response larger than 1 MiB", attempt, latency_ms)
        try:
            payload = response.json()
        except ValueError:
            raise CallFailed("response is not JSON", attempt, latency_ms) from None
        if not isinstance(payload, dict) or "output" not in payload:
            raise CallFailed('response has no "output" field', attempt, latency_ms)
        return payload["output"], latency_ms, payload.get("cost_usd"), attempt
    raise CallFailed(f"{last_error} ({target.max_retries + 1} attempts)", target.max_retries + 1, latency_ms)


def _cost(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return cost.quantize(Decimal("0.000001")) if cost.is_finite() and cost >= 0 else None


def run_case(client, target: TargetSpec, case: CaseSpec, judge: Callable | None) -> CaseOutcome:
    outcome = CaseOutcome(case_id=case.case_id, key=case.key, scorer=case.scorer)
    try:
        output, latency_ms, cost, attempts = call_case(client, target, case)
    except CallFailed as exc:
        outcome.error, outcome.attempts, outcome.latency_ms = str(exc), exc.attempts, exc.latency_ms
        outcome.score = Decimal("0")
        return outcome
    outcome.output, outcome.latency_ms, outcome.cost_usd, outcome.attempts = output, latency_ms, _cost(cost), attempts
    try:
        score: Score = score_output(
            scorer=case.scorer,
            expected=case.expected,
            options=case.options,
            case_input=case.input,
            output=output,
            judge=judge,
        )
    except JudgeUnavailable as exc:
        outcome.error = str(exc)[:2000]
        return outcome
    outcome.passed, outcome.score = score.passed, score.score
    if score.judge_name:
        outcome.judge_identity = (score.judge_name, score.judge_model, score.judge_prompt_version)
        outcome.judge_reason = score.reason
    elif not score.passed:
        outcome.error = score.reason[:2000]
    return outcome


def run_cases(
    target: TargetSpec,
    cases: list[CaseSpec],
    *,
    judge_factory: Callable[[httpx.Client], Callable | None],
    on_case_done: Callable[[CaseOutcome], None] | None = None,
) -> list[CaseOutcome]:
    """Every case, at most ``target.concurrency`` at a time; ``on_case_done`` reports progress."""
    results: list[CaseOutcome] = []
    limits = httpx.Limits(max_connections=target.concurrency * 2, max_keepalive_connections=target.concurrency)
    # The guarded client (registry.outbound): the target and the judge are user-supplied URLs.
    with guarded_client(timeout=target.timeout, limits=limits) as client:
        judge = judge_factory(client)
        with ThreadPoolExecutor(max_workers=target.concurrency, thread_name_prefix="eval-case") as pool:
            futures = [pool.submit(run_case, client, target, case, judge) for case in cases]
            for future in as_completed(futures):
                outcome = future.result()
                results.append(outcome)
                if on_case_done:
                    on_case_done(outcome)
    order = {case.key: index for index, case in enumerate(cases)}
    return sorted(results, key=lambda r: order[r.key])
