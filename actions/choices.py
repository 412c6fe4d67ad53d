from django.db import models


class ActionStatus(models.TextChoices):
    """Labels follow the approvals engine's words for the same states (one vocabulary across
    the console): an action people approved is "Applied" there, so it is "Applied" here too."""

    ALLOWED = "allowed", "Allowed"
    DENIED = "denied", "Denied"
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Applied"
    EXPIRED = "expired", "Expired"


FINAL_STATUSES = (ActionStatus.ALLOWED, ActionStatus.DENIED, ActionStatus.APPROVED, ActionStatus.EXPIRED)


class DecisionSource(models.TextChoices):
    """Who or what decided: a rule of the policy, the tier default, the kill switch, people
    (through the approvals queue), or the clock."""

    POLICY_RULE = "policy_rule", "Policy rule"
    TIER_DEFAULT = "tier_default", "Action-tier default"
    KILL_SWITCH = "kill_switch", "Kill switch"
    PEOPLE = "people", "Approvers"
    EXPIRY = "expiry", "Expiry"
    BUDGET = "budget", "Budget cap"


# What counts as a "policy block" in reports: an automatic denial.
BLOCK_SOURCES = (
    DecisionSource.POLICY_RULE,
    DecisionSource.KILL_SWITCH,
    DecisionSource.TIER_DEFAULT,
    DecisionSource.BUDGET,
)
