from django.db import models


class Severity(models.TextChoices):
    """How bad it is. The order of the values is the order of severity (sev1 worst)."""

    SEV1 = "sev1", "SEV1 — customer impact, regulatory breach or financial loss"
    SEV2 = "sev2", "SEV2 — degraded service or internal impact"
    SEV3 = "sev3", "SEV3 — minor"


# Severities whose incidents need a postmortem, an incident commander and an ad-hoc review.
MAJOR_SEVERITIES = (Severity.SEV1, Severity.SEV2)


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Still being worked on: at most one such incident per agent (and one fleet-wide).
ACTIVE_STATUSES = (IncidentStatus.OPEN, IncidentStatus.MITIGATED)

# The only moves an incident may make. Mitigation may be skipped (a fix that is also the
# mitigation); a resolved incident may be reopened if the fix did not hold; closed is final.
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    IncidentStatus.OPEN: (IncidentStatus.MITIGATED, IncidentStatus.RESOLVED),
    IncidentStatus.MITIGATED: (IncidentStatus.RESOLVED, IncidentStatus.OPEN),
    IncidentStatus.RESOLVED: (IncidentStatus.CLOSED, IncidentStatus.OPEN),
    IncidentStatus.CLOSED: (),
}


class FailureMode(models.TextChoices):
    UNCLASSIFIED = "unclassified", "Not yet classified"
    PROVIDER_OUTAGE = "provider_outage", "Provider outage"
    TOOL_OUTAGE = "tool_outage", "Tool outage"
    STUCK_LOOP = "stuck_loop", "Stuck loop"
    COST_ANOMALY = "cost_anomaly", "Cost anomaly"
    QUALITY_REGRESSION = "quality_regression", "Quality regression"
    KNOWLEDGE_STALENESS = "knowledge_staleness", "Knowledge staleness"
    POLICY_VIOLATION = "policy_violation", "Policy violation"
    SECURITY = "security", "Security"


class DetectionSource(models.TextChoices):
    PERSON = "person", "Person"
    DRIFT_CHECK = "drift_check", "Drift check"
    EVAL = "eval", "Eval"
    MONITORING = "monitoring", "Monitoring"


class TimelineKind(models.TextChoices):
    OPENED = "opened", "Opened"
    STATUS = "status", "Status change"
    NOTE = "note", "Note"
    LINKED = "linked", "Report linked"
    SEVERITY = "severity", "Severity change"
    KILL_SWITCH = "kill_switch", "Kill switch"
    REENABLE = "reenable", "Re-enable requested"
    POSTMORTEM = "postmortem", "Postmortem"
    ACTION_ITEM = "action_item", "Action item"
    RUNS = "runs", "Runs linked"
    REVIEW = "review", "Review scheduled"


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class ActionItemState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


# Still owed: these count as overdue once their due date has passed.
PENDING_ITEM_STATES = (ActionItemState.OPEN, ActionItemState.IN_PROGRESS)
