"""Demo data for evals (``seed_demo``): golden sets, a few completed runs, a drift alert.

Idempotent: everything is looked up by a natural key before it is created."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from registry.models import Agent

from .choices import AlertStatus, DriftMetric, RunSource, RunStatus
from .models import CaseResult, DriftAlert, EvalRun, EvalTarget
from .services import driftpolicy_for, goldenset_create, setversion_freeze

DEMO_CASES = {
    "support-triage": [
        (
            "refund-within-policy",
            {"message": "My order #1042 arrived broken, can I get a refund?"},
            "contains",
            ["refund"],
        ),
        ("refund-over-limit", {"message": "Refund my 900 USD order now."}, "contains", ["escalat"]),
        ("order-status", {"message": "Where is order #2210?"}, "regex", r"(?i)shipped|in transit"),
        ("tone", {"message": "You are useless."}, "llm_judge", "Answer is polite, apologises and offers help."),
        (
            "structured-summary",
            {"message": "Summarise ticket 88"},
            "json_schema",
            {"type": "object", "required": ["summary", "priority"]},
        ),
    ],
    "it-helpdesk": [
        ("vpn", {"message": "VPN does not connect"}, "contains", ["vpn"]),
        ("password-reset", {"message": "Reset my password"}, "contains", ["verify"]),
        ("disk-quota", {"message": "How much disk do I get?"}, "numeric", 50),
    ],
}
# Failed cases per run of the demo history (oldest first): a slide below the bar, then a recovery.
HISTORY = [0, 0, 1, 0, 1, 2, 0, 0]


@transaction.atomic
def seed_evals(stdout=None) -> None:
    now = timezone.now()
    for slug, cases in DEMO_CASES.items():
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None or agent.golden_sets.exists():
            continue
        EvalTarget.objects.get_or_create(
            agent=agent, defaults={"endpoint_url": f"https://{slug}.agents.example/eval", "secret": "demo-secret"}
        )
        driftpolicy_for(agent)
        golden_set = goldenset_create(agent=agent, name="Core regression set", description="Demo golden set.")
        version = golden_set.versions.get(number=1)
        for position, (key, case_input, scorer, expected) in enumerate(cases, start=1):
            version.cases.create(key=key, position=position, input=case_input, scorer=scorer, expected=expected)
        setversion_freeze(set_version_id=version.pk)
        deployed = agent.deployed_version
        if deployed is None:
            continue
        for index, failures in enumerate(HISTORY):
            finished = now - timedelta(days=(len(HISTORY) - index) * 7)
            total = len(cases)
            rate = (Decimal(total - failures) * 100 / total).quantize(Decimal("0.01"))
            run = EvalRun.objects.create(
                agent=agent,
                version=deployed,
                set_version=version,
                idempotency_key=f"demo:{slug}:{index}",
                source=RunSource.SCHEDULE,
                status=RunStatus.COMPLETED,
                total_cases=total,
                done_cases=total,
                passed_cases=total - failures,
                pass_rate_pct=rate,
                threshold_pct=agent.success_threshold_pct,
                passed=rate >= agent.success_threshold_pct,
                started_at=finished - timedelta(minutes=4),
                finished_at=finished,
            )
            if index == len(HISTORY) - 1:
                for key, _input, scorer, _expected in cases:
                    CaseResult.objects.create(
                        run=run,
                        case=version.cases.get(key=key),
                        case_key=key,
                        scorer=scorer,
                        output={"answer": f"demo answer for {key}"},
                        score=Decimal("1"),
                        passed=True,
                        latency_ms=800 + 37 * len(key),
                        cost_usd=Decimal("0.0021"),
                    )
    agent = Agent.objects.filter(slug="order-status").first()
    if agent is not None and not agent.drift_alerts.exists():
        start = now - timedelta(minutes=30)
        DriftAlert.objects.create(
            agent=agent,
            metric=DriftMetric.CONTAINMENT,
            status=AlertStatus.ACKNOWLEDGED,
            summary="Containment dropped 12.4 points (81.0 % → 68.6 %)",
            statistic="two-proportion z",
            statistic_value=-5.91,
            p_value=1.7e-9,
            threshold="drop > 10 points and p < 0.001",
            detected_at=now - timedelta(hours=2),
            last_seen_at=now - timedelta(hours=1),
            evidence={
                "windows": {
                    "baseline": {
                        "start": (start - timedelta(hours=24)).isoformat(),
                        "end": start.isoformat(),
                        "runs": 9120,
                    },
                    "recent": {"start": start.isoformat(), "end": now.isoformat(), "runs": 382},
                },
                "counts": {"baseline": [7387, 9120], "recent": [262, 382]},
                "rates_pct": {"baseline": 81.0, "recent": 68.6},
                "change_points": 12.4,
                "statistic": {"name": "z", "value": -5.91, "p_value": 1.7e-9},
                "threshold": {"points": "10", "significance": "0.001"},
                "min_samples": 50,
            },
        )
    if stdout is not None:
        stdout.write("Evals demo data ready.")
