from django.db import models


class Scorer(models.TextChoices):
    EXACT = "exact", "Exact match"
    CONTAINS = "contains", "Contains"
    REGEX = "regex", "Regular expression"
    JSON_SCHEMA = "json_schema", "JSON schema"
    NUMERIC = "numeric", "Numeric (with tolerance)"
    LLM_JUDGE = "llm_judge", "LLM as judge (rubric)"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class RunSource(models.TextChoices):
    CONSOLE = "console", "Console"
    SCHEDULE = "schedule", "Schedule"
    CI = "ci", "CI (posted results)"
    API = "api", "API"


class DriftMetric(models.TextChoices):
    CONTAINMENT = "containment", "Containment (resolved without escalation)"
    TASK_SUCCESS = "task_success", "Task success under threshold"
    ESCALATION = "escalation", "Escalation rate"
    ERROR_RATE = "error_rate", "Error rate"
    COST_PER_RUN = "cost_per_run", "Cost per run"
    LATENCY_P95 = "latency_p95", "Latency p95"
    OUTCOME_MIX = "outcome_mix", "Outcome mix"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class DriftAction(models.TextChoices):
    NONE = "none", "Alert and incident only"
    CANARY_ROLLBACK = "canary_rollback", "Roll back the canary (share to 0 %)"
    KILL_SWITCH = "kill_switch", "Pull the kill switch (side effects off)"
