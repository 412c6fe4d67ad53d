"""The intake funnel on the home page (the portfolio's view of what is coming)."""

from __future__ import annotations

from .intake import GO_THRESHOLD, intake_funnel


def intake_home_panel(request):
    """Proposed, awaiting a score, at or above the go threshold, below it, became agents."""
    funnel = intake_funnel()
    if not funnel["proposed"] and not request.user.has_perm("compliance.score_intake"):
        return None
    return {"template": "compliance/panels/intake_home.html", "funnel": funnel, "threshold": GO_THRESHOLD}
