"""The audit trail's section on the agent card: the legal hold, and why recent decisions were allowed."""

from __future__ import annotations

from actions.models import ActionRequest
from approvals.choices import RequestStatus
from approvals.models import ApprovalRequest

from .forms import LegalHoldForm, LegalHoldReleaseForm
from .selectors import active_hold
from .services import HOLD_PERM

RECENT = 5


def agent_card_section(request, agent):
    """Everyone who sees the card sees the hold and the why-links (the why pages show what the
    request pages show); the board and auditors get the hold forms."""
    can_hold = request.user.has_perm(HOLD_PERM)
    hold = active_hold(agent)
    return {
        "template": "trail/agent_section.html",
        "agent": agent,
        "hold": hold,
        "can_hold": can_hold,
        "hold_form": LegalHoldForm(initial={"agent": agent.slug}) if can_hold and hold is None else None,
        "release_form": LegalHoldReleaseForm() if can_hold and hold is not None else None,
        "actions": list(
            ActionRequest.objects.filter(agent=agent).select_related("tool").order_by("-created_at")[:RECENT]
        ),
        "changes": list(
            ApprovalRequest.objects.filter(agent=agent, status=RequestStatus.APPLIED).order_by("-applied_at")[:RECENT]
        ),
    }
