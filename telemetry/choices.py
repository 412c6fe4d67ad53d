from django.db import models


class RunStatus(models.TextChoices):
    """Technical end state of the run."""

    OK = "ok", "Completed"
    ERROR = "error", "Errored"
    TIMEOUT = "timeout", "Timed out"


class RunOutcome(models.TextChoices):
    """Business outcome of the run (what happened to the unit of work)."""

    RESOLVED = "resolved", "Resolved"
    ESCALATED = "escalated", "Escalated to a human"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked by policy"
    ABANDONED = "abandoned", "Abandoned"


class RunReason(models.TextChoices):
    """Why a run escalated, failed or was blocked (a fixed taxonomy)."""

    POLICY_BLOCKED = "policy_blocked", "Policy blocked"
    AMBIGUITY = "ambiguity", "Ambiguity"
    TOOL_OUTAGE = "tool_outage", "Tool outage"
    MODEL_ERROR = "model_error", "Model error"
    DATA_MISSING = "data_missing", "Data missing"
    OTHER = "other", "Other"


class ViolationKind(models.TextChoices):
    """What a run (or the MCP gateway, looking at an upstream's tools) revealed that governance
    did not allow; the run itself is kept, the tool is hidden."""

    UNAPPROVED_VERSION = "unapproved_version", "Unapproved version"
    MODEL_MISMATCH = "model_mismatch", "Model differs from the pinned model"
    UNGRANTED_TOOL = "ungranted_tool", "Tool not granted to the version"
    TOOL_UNPINNED = "tool_unpinned", "MCP tool not pinned in the version"
    TOOL_CHANGED = "tool_changed", "MCP tool definition differs from its pin"


class DiscoveryKind(models.TextChoices):
    """What kind of unknown thing the spans named."""

    AGENT = "agent", "Agent"
    TOOL = "tool", "Tool"
    MODEL = "model", "Model"


class DiscoveryState(models.TextChoices):
    UNREVIEWED = "unreviewed", "Unreviewed"
    PROMOTED = "promoted", "Promoted into the registry"
    BLOCKED = "blocked", "Blocked"
