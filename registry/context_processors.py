"""Navigation by role: each item is shown to the users whose role needs it.

Apps add their entry to ``NAV_ITEMS``; ``badge`` names a callable ``(user) -> int``
whose value shows as a count next to the label (for example, requests awaiting me)."""

from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

NAV_ITEMS: list[dict] = [
    {"label": "Home", "url": "home", "perm": None},
    {"label": "Agents", "url": "registry:agent_list", "perm": "registry.view_agent"},
    {"label": "API tokens", "url": "telemetry:user_tokens", "perm": None},
    {"label": "Approvals", "url": "approvals:queue", "perm": None, "badge": "approvals.selectors.awaiting_count"},
    {"label": "Actions", "url": "actions:index", "perm": "actions.view_actionpolicyversion"},
    {
        "label": "Incidents",
        "url": "incidents:incident_list",
        "perm": "incidents.view_incident",
        "badge": "incidents.panels.active_incident_count",
    },
    {
        "label": "Evals",
        "url": "evals:index",
        "perm": "registry.view_agent",
        "badge": "evals.selectors.open_alert_count",
    },
    {"label": "Reports", "url": "reports:portfolio", "perm": "reports.view_reports"},
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for item in NAV_ITEMS:
        if item.get("perm") and not user.has_perm(item["perm"]):
            continue
        try:
            url = reverse(item["url"])
        except NoReverseMatch:
            continue
        badge = import_string(item["badge"])(user) if item.get("badge") else None
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": item["label"], "url": url, "active": active, "badge": badge})
    return {"nav_items": items}
