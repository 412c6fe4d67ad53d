"""What the apps above telemetry add to an agent's runtime controls, registered from their
``AppConfig.ready()``.

* :data:`controls_extras` — ``(agent) -> dict`` merged into the agent's ``/api/v1/controls/``
  answer (and so into its ETag); clients ignore keys they do not know. Example: the action gate
  adds the action-policy version in force for each tool the agent may use.
* :data:`retention_holds` — ``() -> set[int]``: ids of agents whose records must not be purged
  (a legal hold). Telemetry's own span retention asks it before dropping anything. Example: the
  audit trail's legal holds (``trail``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry.extensions import ExtensionPoint

if TYPE_CHECKING:
    from registry.models import Agent

ControlsExtra = Callable[["Agent"], "dict[str, Any] | None"]

controls_extras: ExtensionPoint[ControlsExtra] = ExtensionPoint("controls extras")

RetentionHolds = Callable[[], "set[int]"]

retention_holds: ExtensionPoint[RetentionHolds] = ExtensionPoint("retention holds")


def held_agent_ids() -> set[int]:
    """Every agent some app has put on hold (the union of :data:`retention_holds`)."""
    held: set[int] = set()
    for holds in retention_holds:
        held |= set(holds())
    return held
