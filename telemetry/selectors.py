"""Telemetry reads: an agent's runtime controls (and their ETag), violations, keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, QuerySet, Sum
from django.utils import timezone

from registry.canonical import canonical_sha256
from registry.choices import VersionState
from registry.models import Agent, AgentVersion, GlobalControls
from registry.selectors import agents_visible_to

from .choices import ViolationKind
from .extensions import controls_extras
from .models import AgentAPIKey, ComplianceViolation


def _version_dict(version: AgentVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "label": version.label,
        "bundle_digest": version.bundle_digest,
        "model": version.model_name,
        "policy_version": version.policy_version,
    }


def agent_controls(*, agent_id: int) -> tuple[dict, str]:
    """What the agent must obey right now, read fresh from the database on every call (a
    kill switch pulled in the console shows on the very next request), and a strong ETag
    over the whole answer — including what other apps add through
    :data:`telemetry.extensions.controls_extras` — so polling with ``If-None-Match`` is cheap."""
    agent = Agent.objects.select_related("canary_version").get(pk=agent_id)
    fleet = GlobalControls.load()
    deployed = AgentVersion.objects.filter(agent=agent, state=VersionState.DEPLOYED).first()
    canary = agent.canary_version if agent.canary_share_pct > 0 else None
    body = {
        "agent": agent.slug,
        "side_effects_enabled": bool(agent.side_effects_enabled and fleet.side_effects_enabled),
        "agent_side_effects_enabled": agent.side_effects_enabled,
        "global_side_effects_enabled": fleet.side_effects_enabled,
        "deployed_version": _version_dict(deployed),
        "canary_version": _version_dict(canary),
        # A share without a canary version (or a version without a share) routes nothing.
        "canary_share_pct": str(agent.canary_share_pct if canary else Decimal("0.00")),
        "policy_version": deployed.policy_version if deployed else None,
        "revision": f"{agent.controls_revision}.{fleet.revision}",
    }
    for contribute in controls_extras:
        extra = contribute(agent) or {}
        body.update({k: v for k, v in extra.items() if k not in ("agent", "revision")})
    etag = '"' + canonical_sha256(body)[:32] + '"'
    return body, etag


def agent_keys(*, agent: Agent) -> QuerySet[AgentAPIKey]:
    return AgentAPIKey.objects.filter(agent=agent).select_related("created_by", "revoked_by").order_by("-created")


def agent_violations(*, agent: Agent, limit: int = 20) -> list[ComplianceViolation]:
    return list(ComplianceViolation.objects.filter(agent=agent).select_related("version").order_by("-hour")[:limit])


def violations_recent(*, user, days: int = 7) -> QuerySet[ComplianceViolation]:
    """Violations of the last ``days`` days on agents the user may see, newest first."""
    since = timezone.now() - timedelta(days=days)
    return (
        ComplianceViolation.objects.filter(agent__in=agents_visible_to(user), last_seen_at__gte=since)
        .select_related("agent")
        .order_by("-last_seen_at")
    )


def violations_run_total(*, qs: QuerySet[ComplianceViolation]) -> int:
    return qs.aggregate(n=Sum("run_count"))["n"] or 0


@dataclass(frozen=True)
class ViolationGroup:
    """One line of the home page: an agent broke one rule in ``hours`` hourly windows."""

    agent: Agent
    kind: str
    kind_label: str
    hours: int
    runs: int
    first_hour: datetime
    last_hour: datetime


def violations_recent_grouped(*, user, days: int = 7, limit: int = 10) -> list[ViolationGroup]:
    """Recent violations one line per agent and rule, most recently seen first.

    The table keeps one row per agent, version, rule and hour (so a misbehaving agent cannot
    flood it); listed as they are, those rows read as near-identical lines on the home page."""
    rows = list(
        violations_recent(user=user, days=days)
        .order_by()
        .values("agent", "kind")
        .annotate(
            hours=Count("pk"),
            runs=Sum("run_count"),
            first_hour=Min("hour"),
            last_hour=Max("hour"),
            last_seen=Max("last_seen_at"),
        )
        .order_by("-last_seen", "agent", "kind")[:limit]
    )
    agents = Agent.objects.in_bulk({r["agent"] for r in rows})
    labels = dict(ViolationKind.choices)
    return [
        ViolationGroup(
            agent=agents[r["agent"]],
            kind=r["kind"],
            kind_label=labels.get(r["kind"], r["kind"]),
            hours=r["hours"],
            runs=r["runs"],
            first_hour=r["first_hour"],
            last_hour=r["last_hour"],
        )
        for r in rows
    ]
