"""Stand-ins for other apps' hooks, registered by the tests for the length of a test."""

from approvals.services import checklist_item_tick

GATE_REASON: dict[str, str | None] = {"value": None}


def tick_eval_threshold(request) -> None:
    if request.checklist.filter(key="eval_threshold").exists():
        checklist_item_tick(
            request_id=request.pk, key="eval_threshold", evidence="Passing eval run #1 (97 %).", automatic=True
        )


def gate_from_flag(request) -> str | None:
    return GATE_REASON["value"]
