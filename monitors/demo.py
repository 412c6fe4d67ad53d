"""Demo data for monitors (``seed_demo``): an SLO on the support agent and four monitors, one of
them (slow answers) in alert on the seeded runs, then one evaluation so the card and the home page
show it. Idempotent: looked up by natural keys; the evaluation de-duplicates its alerts."""

from __future__ import annotations

from decimal import Decimal

from registry.models import Agent

from .choices import Comparator, Metric, NoData, Scope
from .models import SLO, Monitor, MonitorCondition
from .services import evaluate_all

DEMO_AGENT = "support-triage"
# (name, scope, no-data, [(metric, comparator, window minutes, warning, alert)])
DEMO_MONITORS = [
    # In alert on the demo data by design: the demo runs take about 15 s (median), so the 24-hour p95 is
    # about half a minute whatever the time of day (a rate monitor on a few dozen runs is not reliable).
    (
        "Slow answers: p95 above 20 s over 24 hours",
        Scope.AGENT,
        NoData.KEEP,
        [(Metric.P95_LATENCY_MS, "above", 1440, 15000, 20000)],
    ),
    (
        "Provider 429s above 5 % over 5 minutes",
        Scope.PORTFOLIO,
        NoData.OK,
        [(Metric.PROVIDER_429_RATE, "above", 5, None, 5)],
    ),
    (
        "Failing scheduled eval of the live version",
        Scope.PORTFOLIO,
        NoData.OK,
        [(Metric.EVAL_FAILING, "above", 5, None, 0)],
    ),
    (
        "Slow and failing: p95 over 60 s AND errors over 2 % for 20 minutes",
        Scope.AGENT,
        NoData.KEEP,
        [(Metric.P95_LATENCY_MS, "above", 20, None, 60000), (Metric.ERROR_RATE, "above", 20, None, 2)],
    ),
]


def seed_monitors(*, stdout=None) -> None:
    agent = Agent.objects.filter(slug=DEMO_AGENT).first()
    if agent is None:
        return
    # Demo runs take about 15 s (median): the latency objective is a minute, not the seeds' 5 s.
    SLO.objects.get_or_create(
        agent=agent,
        channel="",
        defaults={
            "availability_target": Decimal("99.5"),
            "latency_threshold_ms": 60000,
            "latency_target": Decimal("95"),
        },
    )
    for name, scope, no_data, conditions in DEMO_MONITORS:
        monitor, created = Monitor.objects.get_or_create(
            name=name, defaults={"scope": scope, "agent": agent if scope == Scope.AGENT else None, "no_data": no_data}
        )
        if created:
            for metric, comparator, window, warning, alert in conditions:
                MonitorCondition.objects.create(
                    monitor=monitor,
                    metric=metric,
                    comparator=Comparator(comparator),
                    window_minutes=window,
                    warning_threshold=None if warning is None else Decimal(str(warning)),
                    alert_threshold=Decimal(str(alert)),
                )
    counts = evaluate_all()
    if stdout is not None:
        stdout.write(f"Monitors: {counts['monitors']} monitor(s) and {counts['slos']} SLO(s) at warning or alert.")
