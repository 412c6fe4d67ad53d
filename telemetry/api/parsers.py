"""JSON for the ingest endpoints: a hard body limit of 5 MiB, and decimals kept exact."""

from __future__ import annotations

from config.api_parsers import BoundedJSONParser, PayloadTooLarge
from telemetry.schemas import MAX_BODY_BYTES

__all__ = ["PayloadTooLarge", "RunJSONParser"]


class RunJSONParser(BoundedJSONParser):
    """``application/json`` with numbers that have a fraction read as ``Decimal`` (cost stays
    exact), the shared nesting limit, and a hard limit of 5 MiB, checked before and while reading."""

    max_bytes = MAX_BODY_BYTES
    decimals = True
