from django.db import models


class RiskTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 — highest (customer-facing, money, regulated data)"
    TIER_2 = 2, "Tier 2 — moderate"
    TIER_3 = 3, "Tier 3 — low (internal, read-mostly)"


class AgentStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    PILOT = "pilot", "Pilot"
    PRODUCTION = "production", "Production"
    PAUSED = "paused", "Paused"
    RETIRED = "retired", "Retired"


class Channel(models.TextChoices):
    CHAT = "chat", "Chat"
    EMAIL = "email", "E-mail"
    VOICE = "voice", "Voice"
    API = "api", "API"
    INTERNAL = "internal", "Internal tool"
    BATCH = "batch", "Batch job"


class DataClassification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    REGULATED = "regulated", "Regulated (PII, PCI, PHI)"


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    DEPLOYED = "deployed", "Deployed"
    SUPERSEDED = "superseded", "Superseded"
    ROLLED_BACK = "rolled_back", "Rolled back"


# Versions that may be put in front of users by an approved request (go-live, rollout plan): an
# approved one, or one rolled back (going forward again takes the usual approvals, issue 19).
PROMOTABLE_VERSION_STATES = (VersionState.APPROVED, VersionState.ROLLED_BACK)


class ActionTier(models.IntegerChoices):
    READ_ONLY = 0, "0 — read-only"
    DRAFT = 1, "1 — draft (a human sends)"
    LOW_RISK_WRITE = 2, "2 — low-risk write"
    HIGH_RISK_WRITE = 3, "3 — high-risk write"
    PRODUCTION_CONTROL = 4, "4 — production control"


class ScopeKind(models.TextChoices):
    DATA_SOURCE = "data_source", "Data source"
    SYSTEM = "system", "System"


class ReviewKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (tier cadence)"
    AD_HOC_INCIDENT = "ad_hoc_incident", "Ad hoc — incident"
    AD_HOC_SCOPE = "ad_hoc_scope", "Ad hoc — scope change"
    ORPHANED = "orphaned", "Orphaned — owner or sponsor inactive"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"


class ReviewOutcome(models.TextChoices):
    CONTINUE = "continue", "Continue"
    CHANGE_REQUIRED = "change_required", "Change required"
    PAUSE = "pause", "Pause"
    RETIRE = "retire", "Retire"


class IdentityProviderKind(models.TextChoices):
    OIDC = "oidc", "OpenID Connect"
    SAML = "saml", "SAML 2.0"


class ActorKind(models.TextChoices):
    """Who an audit-chain entry names as acting."""

    PERSON = "person", "Person"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class AlertChannelKind(models.TextChoices):
    """Where an alert channel delivers (``registry.channels``)."""

    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams webhook"
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
    WEBHOOK = "webhook", "Signed webhook (Standard Webhooks)"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class NotificationEvent(models.TextChoices):
    TRIGGER = "trigger", "Triggered"
    RESOLVE = "resolve", "Resolved"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    REFUSED = "refused", "Refused (internal address or rejected)"


class BudgetAction(models.TextChoices):
    """What the action gate does once an agent's month spend reaches its hard cap."""

    DENY_SIDE_EFFECTS = "deny_side_effects", "Deny side-effecting actions"
    REQUIRE_APPROVAL = "require_approval", "Require approval for every action"
    KILL_SWITCH = "kill_switch", "Pull the kill switch and open an incident"


class SpendPeriod(models.TextChoices):
    MONTH = "month", "Month"
    DAY = "day", "Day"
    SESSION = "session", "Session"
