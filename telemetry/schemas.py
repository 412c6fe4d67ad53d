"""The run-summary contract: every field, its limit and its rule, in one place.

Both ingest endpoints, ``seed_demo`` and the OpenAPI schema read these models, so a
limit changed here changes everywhere. Validation runs in pydantic-core (compiled),
item by item, so one bad run in a batch does not sink its neighbours."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from django.utils import timezone
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .choices import RunOutcome, RunReason, RunStatus

# --- limits (documented in the schema and the README) ---------------------------------------
MAX_BATCH_ITEMS = 1000
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 5
MAX_METADATA_KEYS = 100
MAX_TOOLS_USED = 100
MAX_TOKENS = 100_000_000
MAX_COUNT = 100_000
MAX_LATENCY_MS = 86_400_000
MAX_RUN_DURATION = timedelta(days=1)
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_RUN_AGE = timedelta(days=400)
# Outcomes that say something went wrong: the agent must say why.
OUTCOMES_NEEDING_REASON = (RunOutcome.ESCALATED, RunOutcome.FAILED, RunOutcome.BLOCKED)

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
LABEL_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.\-_+]*$"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
TOOL_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
TRACE_PATTERN = r"^[\x21-\x7e]*$"  # printable ASCII, no spaces (W3C trace ids, span ids, URLs)

ToolName = Annotated[str, Field(min_length=3, max_length=120, pattern=TOOL_PATTERN)]


class RunIn(BaseModel):
    """One run summary, as an agent reports it. Unknown fields are refused (a typo must not
    silently drop data). Counts are strict integers: ``true`` is not 1 and ``"3"`` or ``3.0`` is
    not 3 (pydantic's lax mode would store all three)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, use_enum_values=True)

    run_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=RUN_ID_PATTERN,
        description="Client-chosen id, unique per agent: the idempotency key. A replay answers `duplicate`.",
        examples=["run-2026-11-20-000123"],
    )
    agent: str = Field(
        default="",
        max_length=64,
        pattern=r"^([-a-zA-Z0-9_]+)?$",
        description="Optional: the agent's slug. If sent, it must be the key's own agent (else 403).",
    )
    version_label: str = Field(
        min_length=1, max_length=40, pattern=LABEL_PATTERN, description="The agent version label that ran."
    )
    bundle_digest: str = Field(
        default="",
        pattern=r"^([0-9a-f]{64})?$",
        description="Optional SHA-256 of the pinned configuration; must match an approved version.",
    )
    model: str = Field(default="", max_length=120, description="The model that served the run.")
    channel: str = Field(default="", max_length=20, pattern=r"^([a-z][a-z0-9_\-]*)?$", examples=["chat"])
    started_at: AwareDatetime = Field(description="ISO 8601 with a zone. At most 400 days old, 5 minutes ahead.")
    ended_at: AwareDatetime = Field(description="ISO 8601 with a zone; not before started_at, at most 24 h after.")
    latency_ms: int = Field(
        default=-1,
        ge=-1,
        le=MAX_LATENCY_MS,
        strict=True,
        description="Defaults to ended_at − started_at (send -1 or omit).",
    )
    status: RunStatus = RunStatus.OK
    outcome: RunOutcome
    reason: RunReason | None = Field(
        default=None, description="Required when outcome is escalated, failed or blocked. (JSON null = none.)"
    )
    input_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS, strict=True)
    output_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS, strict=True)
    cost_usd: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        max_digits=12,
        decimal_places=6,
        description="Non-negative decimal (string or number), at most 6 decimal places, below 1,000,000.",
    )
    tool_calls: int = Field(default=0, ge=0, le=MAX_COUNT, strict=True)
    tools_used: list[ToolName] = Field(default_factory=list, max_length=MAX_TOOLS_USED)
    policy_blocks: int = Field(default=0, ge=0, le=MAX_COUNT, strict=True)
    human_minutes: Decimal = Field(default=Decimal("0"), ge=0, max_digits=8, decimal_places=2)
    trace_id: str = Field(default="", max_length=128, pattern=TRACE_PATTERN)
    shadow: bool = Field(
        default=False,
        strict=True,
        description="true: a shadow run (the version ran on real traffic, its answer was not used). "
        "Kept out of production rollups, reports and drift; compared with production under Rollouts.",
    )
    metadata: dict = Field(
        default_factory=dict,
        description=(
            f"Small JSON object (≤ {MAX_METADATA_BYTES // 1024} KiB, ≤ {MAX_METADATA_KEYS} keys per object, "
            f"depth ≤ {MAX_METADATA_DEPTH}). Keys on the deny list are replaced with `[redacted]` and "
            "card-number-looking values are masked before storage."
        ),
    )

    @field_validator("tools_used")
    @classmethod
    def _tools_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("tools_used lists a tool more than once")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, value: dict) -> dict:
        _check_json_shape(value, depth=1)
        size = len(_METADATA_ENCODER.encode(value).encode())
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is {size} bytes; the limit is {MAX_METADATA_BYTES}")
        return value

    @field_validator("started_at", "ended_at", mode="before")
    @classmethod
    def _timestamps_are_strings(cls, value):
        # A bare number would be read as a Unix time; agents must send ISO 8601 with a zone.
        if not isinstance(value, str | datetime):
            raise ValueError("send an ISO 8601 timestamp with a zone, e.g. 2026-11-20T09:30:00Z")
        return value

    @field_validator("started_at")
    @classmethod
    def _started_in_window(cls, value: datetime, info: ValidationInfo) -> datetime:
        # One clock read per batch: the caller passes its moment in the context (a clock read
        # per item was a tenth of batch validation).
        now = (info.context or {}).get("now") or timezone.now()
        if value > now + MAX_CLOCK_SKEW:
            raise ValueError("started_at is in the future (more than 5 minutes ahead of the server clock)")
        if value < now - MAX_RUN_AGE:
            raise ValueError("started_at is more than 400 days ago")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> RunIn:
        if self.ended_at < self.started_at:
            raise _FieldError("ended_at", "ended_at must not be before started_at", "ended_before_started")
        if self.ended_at - self.started_at > MAX_RUN_DURATION:
            raise _FieldError("ended_at", "a run may last at most 24 hours", "run_too_long")
        if self.outcome in OUTCOMES_NEEDING_REASON and not self.reason:
            raise _FieldError("reason", f"reason is required when outcome is {self.outcome}", "required")
        return self


# The compact UTF-8 JSON whose size the metadata limit counts, built once (json.dumps with these
# options builds a new encoder per call, per run of a batch). A lone surrogate fails its .encode()
# and so the run's validation (a 400 naming metadata), before PostgreSQL would refuse it.
_METADATA_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False)


class RunBatchIn(BaseModel):
    """Up to 1,000 runs. Each is validated and stored on its own: the answer lists every index."""

    model_config = ConfigDict(extra="forbid")

    runs: list[RunIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class _FieldError(ValueError):
    """A cross-field rule that blames one field (pydantic would blame the whole object)."""

    def __init__(self, field: str, message: str, code: str):
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


def _check_json_shape(value, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"a metadata object has more than {MAX_METADATA_KEYS} keys")
        for key, item in value.items():
            if len(key) > 64:
                raise ValueError("metadata keys are at most 64 characters")
            _check_json_shape(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_shape(item, depth + 1)


# pydantic's error types → the API's machine-readable codes.
_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "string_too_long": "max_length",
    "string_too_short": "min_length",
    "too_long": "max_items",
    "too_short": "min_items",
    "string_pattern_mismatch": "invalid_format",
    "greater_than_equal": "min_value",
    "less_than_equal": "max_value",
    "decimal_max_digits": "max_digits",
    "decimal_max_places": "max_decimal_places",
    "decimal_whole_digits": "max_digits",
    "enum": "invalid_choice",
    "timezone_aware": "timezone_required",
    "datetime_from_date_parsing": "invalid_datetime",
    "datetime_parsing": "invalid_datetime",
    "datetime_type": "invalid_datetime",
    "int_parsing": "invalid_integer",
    "int_from_float": "invalid_integer",
    "int_type": "invalid_integer",
    "decimal_parsing": "invalid_decimal",
    "decimal_type": "invalid_decimal",
    "string_type": "invalid_type",
    "dict_type": "invalid_type",
    "list_type": "invalid_type",
    "model_type": "invalid_type",
    "value_error": "invalid",
}


def errors_from(exc: ValidationError, prefix: str = "") -> list[dict]:
    """pydantic's errors in the API's shape: ``[{"code", "field", "message"}]``."""
    out = []
    for err in exc.errors(include_url=False):
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            field, code, message = ctx_error.field, ctx_error.code, ctx_error.message
        else:
            field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
            code = _CODES.get(err["type"], err["type"])
            message = err["msg"].removeprefix("Value error, ")
            if field:
                message = f"{field}: {message}"
        out.append(
            {"code": code, "field": f"{prefix}{field}" if field else (prefix.rstrip(".") or None), "message": message}
        )
    return out


def run_validate(item, *, now: datetime | None = None) -> tuple[RunIn | None, list[dict]]:
    """Validate one run (a dict parsed with Decimal floats) against the server clock at ``now``
    (read here when not given). Returns the run or its errors."""
    if not isinstance(item, dict):
        return None, [{"code": "invalid_type", "field": None, "message": "A run must be a JSON object."}]
    try:
        return RunIn.model_validate(item, context={"now": now} if now is not None else None), []
    except ValidationError as exc:
        return None, errors_from(exc)
