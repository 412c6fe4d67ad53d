"""What the apps above telemetry add to an agent's runtime controls, registered from their
``AppConfig.ready()``.

* :data:`controls_extras` — ``(agent) -> dict`` merged into the agent's ``/api/v1/controls/``
  answer (and so into its ETag); clients ignore keys they do not know. Example: the action gate
  adds the action-policy version in force for each tool the agent may use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry.extensions import ExtensionPoint

if TYPE_CHECKING:
    from registry.models import Agent

ControlsExtra = Callable[["Agent"], "dict[str, Any] | None"]

controls_extras: ExtensionPoint[ControlsExtra] = ExtensionPoint("controls extras")
