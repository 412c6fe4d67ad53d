from django.db import models


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved (not yet applied)"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    APPLIED = "applied", "Applied"


# A request in one of these states may still change; every other state is final.
OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED)


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"


class RequestKind(models.TextChoices):
    """The built-in change kinds. Other apps may register more (see ``approvals.kinds``),
    so the database column is not limited to these values."""

    GO_LIVE = "go_live", "Go live"
    NEW_VERSION = "new_version", "New version or model swap"
    TOOL_GRANT = "tool_grant", "Tool grant or scope expansion"
    ROLLOUT_STEP = "rollout_step", "Rollout step (canary share)"
    RETIREMENT = "retirement", "Retirement"
    REENABLE_SIDE_EFFECTS = "reenable_side_effects", "Re-enable side effects"
    TIER_CHANGE = "tier_change", "Risk-tier change"


# Releases: the kinds that put a version in front of users. Gates that guard a release (eval
# results, overdue postmortem action items) object to these kinds and to no other.
# A rollout plan (``rollout_plan``, registered by the rollouts app) ends in a go-live, so it is one too.
RELEASE_KINDS = (RequestKind.GO_LIVE, RequestKind.NEW_VERSION, "rollout_plan")


class ChecklistKey(models.TextChoices):
    PRIVACY = "privacy", "Privacy impact assessment"
    SECURITY = "security", "Security review"
    EVAL_THRESHOLD = "eval_threshold", "Eval results meet threshold"
    COST_BUDGET = "cost_budget", "Cost projection and budget approval"
    LEGAL = "legal", "Legal review"
    COMPLIANCE = "compliance", "Compliance attestation"
    RED_TEAM = "red_team", "Independent red team"
    EXECUTIVE_SIGNOFF = "executive_signoff", "Executive sign-off"


CHECKLIST_ALL_TIERS = (
    ChecklistKey.PRIVACY,
    ChecklistKey.SECURITY,
    ChecklistKey.EVAL_THRESHOLD,
    ChecklistKey.COST_BUDGET,
)
CHECKLIST_TIER_1_EXTRA = (
    ChecklistKey.LEGAL,
    ChecklistKey.COMPLIANCE,
    ChecklistKey.RED_TEAM,
    ChecklistKey.EXECUTIVE_SIGNOFF,
)


def checklist_keys_for_tier(tier: int) -> list[str]:
    """All tiers: privacy, security, evals, cost. Tier 1 adds legal, compliance, red team, executive sign-off."""
    keys = [str(k) for k in CHECKLIST_ALL_TIERS]
    if int(tier) == 1:
        keys += [str(k) for k in CHECKLIST_TIER_1_EXTRA]
    return keys
