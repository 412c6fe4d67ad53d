"""Canonical JSON: the one text form every stored hash in Quorum is computed from.

Bundle digests (registry), approval payload hashes (approvals), action-request fingerprints and
webhook bodies (actions), CI result digests (evals) and the controls ETag (telemetry) all hash
this form, so the same data always hashes the same in every app.

The options are fixed once and for all: keys sorted, no whitespace, UTF-8 as is
(``ensure_ascii=False``: "Zürich" stays "Zürich", as every stored digest was computed), and
values JSON cannot encode natively (``Decimal``, ``UUID``, ``datetime``) written as their
``str()``. Changing any of them would change stored digests, so that every approval bound to
one silently stops counting; ``tests/test_digests_unchanged.py`` holds the values."""

from __future__ import annotations

import hashlib
import json


def canonical_json(value) -> str:
    """``value`` as canonical JSON text (see the module docstring for the fixed options)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_sha256(value) -> str:
    """The hex SHA-256 of ``value``'s canonical JSON, UTF-8 encoded."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def tool_definition_hash(*, name: str, description: str | None, input_schema: dict | None) -> str:
    """The hash an MCP tool definition is pinned by (issue 17): its name, description and input
    schema as canonical JSON. The MCP gateway (``sdk/python/quorum_mcp``) computes the same value
    without Django; a changed word in the description changes the hash, so the gateway hides it."""
    return canonical_sha256({"name": name, "description": description or "", "input_schema": input_schema or {}})
