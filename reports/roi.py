"""ROI formulas: what an agent (or the portfolio) is worth over a period, from summed rollup
counters. Pure arithmetic on figures already read: no queries here.

Formulas (per agent, for a period of ``days`` whole UTC days; the agent counts as live from
its go-live date when that falls inside the period):

* task success rate = resolved runs / runs
* escalation rate = escalated runs / runs; containment = 1 − escalation rate
* human intervention rate = runs escalated or with human handling minutes / runs
* average handle time = mean run latency (sum of latency / runs)
* minutes automated = resolved runs × human minutes per unit − human handling minutes spent
* value = minutes automated × human cost per minute
* model cost = the runs' reported cost (inference and tools)
* infrastructure cost = monthly infrastructure × 12 / 365 × live days; operations likewise
* savings = value − (model cost + infrastructure + operations)
* annualized savings = savings × 365 / live days
* net of incidents = savings − incident financial impact in the period (annualized likewise)
* ROI multiple = value / (model + infrastructure + operations)
* payback (months) = one-time build cost / (annualized savings / 12), when savings are positive
* cost per successful task (blended) = (model cost + infrastructure + human minutes × human
  cost per minute) / resolved runs
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.utils import timezone

from registry.choices import AgentStatus
from registry.models import Agent
from telemetry.latency import percentile_ms
from telemetry.models import DailyRollup

SUM_FIELDS = DailyRollup.COUNTERS
CENT = Decimal("0.01")
LIVE_STATUSES = (AgentStatus.PILOT, AgentStatus.PRODUCTION, AgentStatus.PAUSED)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def pct(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Metrics:
    """Summed rollup counters for one agent (or the portfolio) over a period."""

    runs: int = 0
    successes: int = 0
    escalations: int = 0
    failures: int = 0
    blocked: int = 0
    abandoned: int = 0
    errors: int = 0
    human_touched: int = 0
    policy_blocks: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    human_minutes: Decimal = Decimal("0")
    latency_sum_ms: int = 0
    latency_hist: list[int] | None = None

    @classmethod
    def from_row(cls, row: dict) -> Metrics:
        values = {f: (row.get(f) or 0) for f in SUM_FIELDS}
        values["cost_usd"] = Decimal(values["cost_usd"])
        values["human_minutes"] = Decimal(values["human_minutes"])
        return cls(**values, latency_hist=row.get("latency_hist"))

    def add(self, other: Metrics) -> None:
        for f in SUM_FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def success_rate_pct(self):
        return pct(self.successes, self.runs)

    @property
    def escalation_rate_pct(self):
        return pct(self.escalations, self.runs)

    @property
    def containment_pct(self):
        return None if not self.runs else Decimal(100) - pct(self.escalations, self.runs)

    @property
    def intervention_rate_pct(self):
        return pct(self.human_touched, self.runs)

    @property
    def error_rate_pct(self):
        return pct(self.errors, self.runs)

    @property
    def aht_seconds(self) -> Decimal | None:
        if not self.runs:
            return None
        return (Decimal(self.latency_sum_ms) / self.runs / 1000).quantize(Decimal("0.1"))

    def latency_pct_ms(self, p: float) -> int | None:
        return percentile_ms(self.latency_hist, p) if self.latency_hist else None


@dataclass
class Roi:
    """ROI of one agent over a period; the formulas are in this module's docstring. Built once
    from its inputs and not changed after, so the derived figures are computed once (the
    portfolio reads each of them several times for a hundred agents)."""

    agent: Agent
    start: date
    end: date
    metrics: Metrics
    live_days: int
    incident_cost_usd: Decimal = Decimal("0")
    build_cost_usd: Decimal = Decimal("0")

    @property
    def human_cost_per_minute(self) -> Decimal:
        return self.agent.human_cost_per_minute_usd

    @cached_property
    def minutes_automated(self) -> Decimal:
        return self.metrics.successes * self.agent.human_minutes_per_unit - self.metrics.human_minutes

    @cached_property
    def value_usd(self) -> Decimal:
        return self.minutes_automated * self.human_cost_per_minute

    @property
    def model_cost_usd(self) -> Decimal:
        return self.metrics.cost_usd

    def _prorated(self, monthly: Decimal) -> Decimal:
        return monthly * 12 * self.live_days / Decimal(365)

    @cached_property
    def infra_cost_usd(self) -> Decimal:
        return self._prorated(self.agent.monthly_infra_cost_usd)

    @cached_property
    def ops_cost_usd(self) -> Decimal:
        return self._prorated(self.agent.monthly_ops_cost_usd)

    @cached_property
    def total_cost_usd(self) -> Decimal:
        return self.model_cost_usd + self.infra_cost_usd + self.ops_cost_usd

    @cached_property
    def savings_usd(self) -> Decimal:
        return self.value_usd - self.total_cost_usd

    def _annualize(self, amount: Decimal) -> Decimal | None:
        return amount * 365 / Decimal(self.live_days) if self.live_days else None

    @cached_property
    def annualized_savings_usd(self) -> Decimal | None:
        return self._annualize(self.savings_usd)

    @property
    def net_of_incidents_usd(self) -> Decimal:
        return self.savings_usd - self.incident_cost_usd

    @property
    def annualized_net_of_incidents_usd(self) -> Decimal | None:
        return self._annualize(self.net_of_incidents_usd)

    @cached_property
    def roi_multiple(self) -> Decimal | None:
        if not self.total_cost_usd:
            return None
        return (self.value_usd / self.total_cost_usd).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def payback_months(self) -> Decimal | None:
        annual = self.annualized_savings_usd
        if not self.build_cost_usd or annual is None or annual <= 0:
            return None
        return (self.build_cost_usd / (annual / 12)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @cached_property
    def cost_per_success_usd(self) -> Decimal | None:
        if not self.metrics.successes:
            return None
        blended = self.model_cost_usd + self.infra_cost_usd + self.metrics.human_minutes * self.human_cost_per_minute
        return blended / self.metrics.successes

    @property
    def below_thresholds(self) -> list[str]:
        """Which of the agent's thresholds the period missed (empty when none, or no runs)."""
        m = self.metrics
        misses = []
        if m.runs and m.success_rate_pct < self.agent.success_threshold_pct:
            misses.append(f"task success {m.success_rate_pct} % < {self.agent.success_threshold_pct:.0f} %")
        if m.runs and m.escalation_rate_pct > self.agent.escalation_threshold_pct:
            misses.append(f"escalation {m.escalation_rate_pct} % > {self.agent.escalation_threshold_pct:.0f} %")
        return misses


def live_days(agent: Agent, start: date, end: date) -> int:
    """Days of [start, end) on which the agent was live (from its go-live date on)."""
    live_start = start
    if agent.deployed_at:
        live_start = max(start, timezone.localdate(agent.deployed_at, UTC))
    return max(0, (end - live_start).days)


@dataclass
class PortfolioTotals:
    metrics: Metrics
    value_usd: Decimal
    model_cost_usd: Decimal
    infra_cost_usd: Decimal
    ops_cost_usd: Decimal
    incident_cost_usd: Decimal
    annualized_savings_usd: Decimal
    build_cost_usd: Decimal

    @classmethod
    def of(cls, rois: list[Roi], *, build_cost_usd: Decimal) -> PortfolioTotals:
        """The sums of the agents' figures (each agent's own human-minute price applied)."""
        metrics = Metrics()
        for r in rois:
            metrics.add(r.metrics)
        zero = Decimal("0")
        return cls(
            metrics=metrics,
            value_usd=sum((r.value_usd for r in rois), zero),
            model_cost_usd=sum((r.model_cost_usd for r in rois), zero),
            infra_cost_usd=sum((r.infra_cost_usd for r in rois), zero),
            ops_cost_usd=sum((r.ops_cost_usd for r in rois), zero),
            incident_cost_usd=sum((r.incident_cost_usd for r in rois), zero),
            annualized_savings_usd=sum((r.annualized_savings_usd or zero for r in rois), zero),
            build_cost_usd=build_cost_usd,
        )

    @property
    def total_cost_usd(self) -> Decimal:
        return self.model_cost_usd + self.infra_cost_usd + self.ops_cost_usd

    @property
    def savings_usd(self) -> Decimal:
        return self.value_usd - self.total_cost_usd

    @property
    def net_of_incidents_usd(self) -> Decimal:
        return self.savings_usd - self.incident_cost_usd

    @property
    def roi_multiple(self) -> Decimal | None:
        if not self.total_cost_usd:
            return None
        return (self.value_usd / self.total_cost_usd).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def cost_per_success_usd(self) -> Decimal | None:
        return None  # blended per-agent only: human minute prices differ between agents
