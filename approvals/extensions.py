"""What the apps above approvals add to its rules, registered from their ``AppConfig.ready()``.

* :data:`request_created_hooks` — ``(request) -> None`` run **inside** the creating transaction,
  after the checklist rows exist and the request row is locked by it (so a hook may call
  :func:`approvals.services.checklist_item_tick`). An exception in a hook aborts the creation.
  Example: evals ticks "eval results meet threshold" when the version already has a passing run.
* :data:`apply_gates` — ``(request) -> str | None`` asked just before an approved request is
  applied; a string keeps the request approved-but-blocked with that reason shown. Example:
  incidents refuses a go-live while the agent has an overdue postmortem action item.

Request kinds themselves register through :func:`approvals.kinds.register_kind`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from registry.extensions import ExtensionPoint

if TYPE_CHECKING:
    from .models import ApprovalRequest

RequestCreatedHook = Callable[["ApprovalRequest"], None]
# The reason the request may not be applied yet, or None when this gate has no objection.
ApplyGate = Callable[["ApprovalRequest"], "str | None"]

request_created_hooks: ExtensionPoint[RequestCreatedHook] = ExtensionPoint("request-created hooks")
apply_gates: ExtensionPoint[ApplyGate] = ExtensionPoint("apply gates")
