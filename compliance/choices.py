from django.db import models


class IntakeStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted (awaiting the board's score)"
    SCORED = "scored", "Scored"
    CONVERTED = "converted", "Became a proposed agent"
    WITHDRAWN = "withdrawn", "Withdrawn"


class DocumentKind(models.TextChoices):
    AGENT_CARD = "agent_card", "Agent card"
    RUNBOOK = "runbook", "Runbook (failure modes and recovery)"
    ARCHITECTURE = "architecture", "Architecture and data-flow diagram"
    GOLDEN_SET = "golden_set", "Golden set"
    PRIVACY_SIGNOFF = "privacy_signoff", "Privacy sign-off"


class AssessmentKind(models.TextChoices):
    FRIA = "fria", "Fundamental-rights impact assessment (EU AI Act Art. 27)"
    DPIA = "dpia", "Data-protection impact assessment (GDPR Art. 35)"


class AssessmentStatus(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded by a later approved version"
    REJECTED = "rejected", "Not approved"
