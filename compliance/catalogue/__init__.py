"""The control catalogue: data, not code (``controls-v1.json``, versioned with its sources).

A control names the evidence queries (``compliance.evidence``) whose records evidence it. A new
catalogue version is a new file (``controls-v2.json``) so exports name the version they used."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE_DIR = Path(__file__).resolve().parent
CURRENT = "controls-v1.json"


@dataclass(frozen=True)
class Control:
    id: str
    framework: str
    ref: str
    title: str
    source: str
    evidence: tuple[str, ...]
    outside_quorum: str = ""


@dataclass(frozen=True)
class Catalogue:
    version: str
    sources: dict
    frameworks: tuple[tuple[str, str], ...]
    controls: tuple[Control, ...]

    def framework_name(self, key: str) -> str:
        return dict(self.frameworks).get(key, key)


@cache
def catalogue_load(name: str = CURRENT) -> Catalogue:
    """The catalogue file ``name`` (read once per process: it is part of the release, not data
    that changes while Quorum runs)."""
    raw = json.loads((CATALOGUE_DIR / name).read_text(encoding="utf-8"))
    controls = tuple(
        Control(
            id=c["id"],
            framework=c["framework"],
            ref=c["ref"],
            title=c["title"],
            source=c["source"],
            evidence=tuple(c.get("evidence", ())),
            outside_quorum=c.get("outside_quorum", ""),
        )
        for c in raw["controls"]
    )
    frameworks = tuple((f["key"], f["name"]) for f in raw["frameworks"])
    return Catalogue(version=raw["version"], sources=raw["sources"], frameworks=frameworks, controls=controls)
