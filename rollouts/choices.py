from __future__ import annotations

from django.db import models


class PlanStatus(models.TextChoices):
    ACTIVE = "active", "In progress"
    HALTED = "halted", "Halted on a failing gate"
    ROLLED_BACK = "rolled_back", "Rolled back"
    COMPLETED = "completed", "Completed (live at 100 %)"
    CANCELLED = "cancelled", "Cancelled"


class OnFailure(models.TextChoices):
    """What the rollout task does when a gate fails (an incident is opened either way)."""

    HALT = "halt", "Halt at the current share and open an incident"
    ROLLBACK = "rollback", "Roll the canary back to 0 % and open an incident"


class Verdict(models.TextChoices):
    PASS = "pass", "Passed"
    FAIL = "fail", "Failed"
    WAIT = "wait", "Waiting for data or time"


# Seed defaults (shared/seeds, "Rollout strategy"; "Production Agent Readiness Checklist"): a
# gradual rollout 1 % → 5 % → 20 % → 100 % at least 3 days a step, or a 5 % canary for 48 hours.
# The last stage (100 %) is the go-live itself, so it is not listed.
PRESETS: dict[str, tuple[str, list[dict]]] = {
    "gradual": (
        "Gradual: 1 % → 5 % → 20 % → 100 %, 3 days a step",
        [
            {"share_pct": "1", "min_hours": 72},
            {"share_pct": "5", "min_hours": 72},
            {"share_pct": "20", "min_hours": 72},
        ],
    ),
    "canary_48h": ("Canary: 5 % for 48 hours, then 100 %", [{"share_pct": "5", "min_hours": 48}]),
}
DEFAULT_SUCCESS_TOLERANCE_PP = "2.00"  # "success within ±2 % of baseline"
DEFAULT_COST_TOLERANCE_PCT = "10.00"
DEFAULT_P95_SLO_MS = 8000  # "p95 over 8 s" is the seeds' latency trigger
DEFAULT_MIN_SAMPLE = 200
