"""The serious-incident clock on the home page and on the incident page."""

from __future__ import annotations

from incidents.choices import IncidentStatus
from incidents.permissions import user_can_respond
from incidents.selectors import incidents_visible_to

from .models import SeriousIncident
from .serious import serious_clock


def serious_home_panel(request) -> dict | None:
    """Serious incidents not closed, with their clocks, soonest deadline first."""
    user = request.user
    if not user.has_perm("incidents.view_incident"):
        return None
    serious = (
        SeriousIncident.objects.filter(incident__in=incidents_visible_to(user))
        .exclude(incident__status=IncidentStatus.CLOSED)
        .select_related("incident")
        .prefetch_related("reports")
        .order_by("due_at")[:20]
    )
    rows = [{"serious": s, "clock": serious_clock(s)} for s in serious]
    if not rows:
        return None
    return {"template": "compliance/panels/serious_home.html", "rows": rows}


def serious_incident_section(request, incident) -> dict | None:
    """The clock on the incident page, or the way to classify it for its responders."""
    serious = SeriousIncident.objects.filter(incident=incident).first()
    can_respond = user_can_respond(request.user, incident)
    if serious is None and not (can_respond and incident.agent_id):
        return None
    return {
        "template": "compliance/sections/incident_serious.html",
        "incident": incident,
        "serious": serious,
        "clock": serious_clock(serious) if serious else None,
    }
