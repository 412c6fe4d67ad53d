"""What the apps above reports add to the evidence pack (``reports/evidence.py``), registered
from their ``AppConfig.ready()``.

* :data:`evidence_pack_files` — ``(agent, since, until) -> dict[path, text]``: extra files
  written into the ZIP (and so into its signed manifest). Example: the compliance workbench's
  framework mapping (``compliance/apps.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from registry.extensions import ExtensionPoint

if TYPE_CHECKING:
    from registry.models import Agent

EvidencePackFiles = Callable[["Agent | None", "datetime | None", "datetime | None"], "dict[str, str]"]

evidence_pack_files: ExtensionPoint[EvidencePackFiles] = ExtensionPoint("evidence pack files")
