"""The evals panel on the home page and the evals section of the agent card."""

from __future__ import annotations

from .choices import RunStatus
from .selectors import evalruns_visible_to, open_alerts_visible_to, pass_rate_trend
from .services import version_passing_run


def evals_home_panel(request):
    alerts = open_alerts_visible_to(request.user).order_by("-detected_at")
    active = evalruns_visible_to(request.user).filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
    return {
        "template": "evals/panels/home.html",
        "alerts": alerts[:10],
        "alert_count": alerts.count(),
        "active_runs": active[:10],
    }


def evals_agent_section(request, agent):
    latest = agent.eval_runs.select_related("version", "set_version__golden_set").order_by("-created_at")[:5]
    deployed = agent.deployed_version
    return {
        "template": "evals/panels/agent_section.html",
        "agent": agent,
        "latest_runs": latest,
        "trend": pass_rate_trend(agent, limit=20),
        "open_alerts": agent.drift_alerts.exclude(status="resolved").order_by("-detected_at")[:5],
        "deployed": deployed,
        "deployed_passing_run": version_passing_run(deployed) if deployed else None,
    }
