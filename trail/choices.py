from django.db import models


class RecordFamily(models.TextChoices):
    """The kinds of record retention treats alike: each has one retention period."""

    RUNS = "runs", "Runs"
    RUN_METADATA = "run_metadata", "Run metadata"
    ACTION_PARAMETERS = "action_parameters", "Action parameters"
    AUDIT_ENTRIES = "audit_entries", "Audit entries and decisions"
    INCIDENTS = "incidents", "Closed incidents"


# Days kept by default. Audit entries and decisions: 7 years (financial-services practice, the
# seeds' "1-7 years"); runs: 13 months (a year-on-year comparison, and well over the six months
# the EU AI Act asks deployers to keep logs for, Art. 19 and 26(6)); action parameters and run
# metadata: 90 days (they may hold personal data; the decision and the figures stay).
DEFAULT_DAYS = {
    RecordFamily.RUNS: 396,
    RecordFamily.RUN_METADATA: 90,
    RecordFamily.ACTION_PARAMETERS: 90,
    RecordFamily.AUDIT_ENTRIES: 2557,
    RecordFamily.INCIDENTS: 2557,
}

# Families that are logs in the AI Act's sense never go below six months.
AI_ACT_MINIMUM_DAYS = 183
LOG_FAMILIES = (RecordFamily.RUNS, RecordFamily.AUDIT_ENTRIES, RecordFamily.INCIDENTS)
MAXIMUM_DAYS = 36_500

# What each family's purge does, in words (the retention page shows it).
WHAT_GOES = {
    RecordFamily.RUNS: "Runs started before the cut-off are deleted; hourly and daily rollups keep their figures.",
    RecordFamily.RUN_METADATA: "The free-form metadata of older runs is emptied; the run and its figures stay.",
    RecordFamily.ACTION_PARAMETERS: (
        "The parameters of decided action requests are replaced by a marker (sooner where the tool's "
        "policy says so); the decision, rule and policy version stay."
    ),
    RecordFamily.AUDIT_ENTRIES: (
        "Whole chain segments up to a signed checkpoint before the cut-off are pruned; the signed "
        "checkpoint stays, so the chain still verifies."
    ),
    RecordFamily.INCIDENTS: "Incidents closed before the cut-off go, with their timeline and postmortem.",
}
