"""The agent card exported as an A2A-style agent card (JSON) and as a printable page.

The shape follows the Agent2Agent protocol's ``AgentCard`` (name, description, url, version,
provider, capabilities, default modes, skills); Quorum's governance facts (risk tier, status,
owner, the documentation gate, the approved impact assessments) travel as a capability extension,
so an A2A client that does not know them ignores them."""

from __future__ import annotations

from django.urls import reverse

from registry.models import Agent

from .assessments import assessment_current
from .choices import AssessmentKind
from .documents import documents_required_state

A2A_PROTOCOL_VERSION = "0.3.0"
GOVERNANCE_EXTENSION_URI = "https://quorum.dev/a2a/extensions/governance/v1"


def _skills(agent: Agent) -> list[dict]:
    deployed = agent.deployed_version
    if deployed is None:
        return []
    return [
        {
            "id": grant.tool.name,
            "name": grant.tool.name,
            "description": grant.tool.description or f"{grant.tool.name} on {grant.tool.system}",
            "tags": [grant.tool.system, f"action-tier-{grant.tool.action_tier}"],
        }
        for grant in deployed.grants.select_related("tool").order_by("tool__name")
    ]


def agent_card_a2a(agent: Agent, *, base_url: str) -> dict:
    """The A2A-style card of ``agent``; links are absolute under ``base_url``."""
    base = base_url.rstrip("/")
    deployed = agent.deployed_version
    documents = {
        s.kind: {
            "version": s.document.version if s.document else None,
            "review_due": s.document.review_due.isoformat() if s.document else None,
            "status": s.problem or "current",
        }
        for s in documents_required_state(agent)
    }
    assessments = {}
    for kind in AssessmentKind.values:
        current = assessment_current(agent, kind)
        assessments[kind] = (
            {"version": current.version, "valid_until": current.valid_until.isoformat()} if current else None
        )
    return {
        "protocolVersion": A2A_PROTOCOL_VERSION,
        "name": agent.name,
        "description": agent.purpose,
        "url": base + agent.get_absolute_url(),
        "version": deployed.label if deployed else "none deployed",
        "provider": {"organization": agent.owner_team.name, "url": base + "/"},
        "documentationUrl": base + reverse("compliance:agent_documents", kwargs={"slug": agent.slug}),
        "capabilities": {
            "streaming": False,
            "pushNotifications": False,
            "extensions": [
                {
                    "uri": GOVERNANCE_EXTENSION_URI,
                    "description": "Quorum governance facts: tier, status, owner, documents, impact assessments.",
                    "required": False,
                    "params": {
                        "slug": agent.slug,
                        "riskTier": agent.risk_tier,
                        "status": agent.status,
                        "ownerTeam": agent.owner_team.name,
                        "owner": agent.owner.get_full_name() or agent.owner.get_username(),
                        "unitOfWork": agent.unit_of_work,
                        "primaryKpi": agent.kpi_name,
                        "model": f"{deployed.model_provider}/{deployed.model_name}" if deployed else None,
                        "bundleDigest": deployed.bundle_digest if deployed else None,
                        "documents": documents,
                        "impactAssessments": assessments,
                    },
                }
            ],
        },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": _skills(agent),
    }
