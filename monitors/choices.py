from django.db import models


class Level(models.TextChoices):
    """Where an SLO or a monitor stands; ranked ok < warning < alert."""

    OK = "ok", "OK"
    WARNING = "warning", "Warning"
    ALERT = "alert", "Alert"
    NO_DATA = "no_data", "No data"


LEVEL_RANK = {Level.OK: 0, Level.WARNING: 1, Level.ALERT: 2}


class Scope(models.TextChoices):
    AGENT = "agent", "One agent"
    TEAM = "team", "A team's agents"
    PORTFOLIO = "portfolio", "The whole portfolio"


class Metric(models.TextChoices):
    """Metrics a monitor condition reads, each from the five-minute rollups of the scope's agents
    (but ``eval_failing``, read from the evals)."""

    RUNS = "runs", "Runs"
    SUCCESS_RATE = "success_rate", "Success rate (%)"
    ERROR_RATE = "error_rate", "Error rate: errored, timed out or failed (%)"
    ESCALATION_RATE = "escalation_rate", "Escalation rate (%)"
    P95_LATENCY_MS = "p95_latency_ms", "p95 latency (ms)"
    COST_USD = "cost_usd", "Cost (USD)"
    POLICY_BLOCKS = "policy_blocks", "Policy blocks"
    PROVIDER_429_RATE = "provider_429_rate", "Provider 429s: share of runs rate-limited (%)"
    EVAL_FAILING = "eval_failing", "Agents whose live version failed its latest scheduled eval"


class Comparator(models.TextChoices):
    ABOVE = "above", "above"
    BELOW = "below", "below"


class NoData(models.TextChoices):
    """What a monitor does when a condition has no runs in its window."""

    OK = "ok", "Treat as OK"
    KEEP = "keep", "Keep the last state"
    WARNING = "warning", "Warn"
    ALERT = "alert", "Alert"
