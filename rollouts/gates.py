"""The gates of a rollout stage: canary against stable over the same window. Pure functions of
the figures, so each rule is tested on numbers.

Rules (a plan carries its own limits, defaults from the seeds):

* **sample** — both sides have at least ``min_sample`` production runs in the window; until
  then the stage waits (a small sample decides nothing).
* **success** — the canary's success rate is not below the stable's by more than
  ``success_tolerance_pp`` points *and* significantly so (one-sided two-proportion z-test at
  5 %, the drift checks' test): a drop within noise or within tolerance passes.
* **latency** — the canary's p95 latency is within ``p95_slo_ms``.
* **cost** — the canary's cost per success is at most the stable's × (1 + ``cost_tolerance_pct`` %).
* **violations** — no compliance violation of the canary version first seen in the window. This
  one fails at once, whatever the sample: a violation is a fact, not a statistic."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from evals.drift_stats import two_proportion_z

from .choices import Verdict

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class GateResult:
    name: str
    label: str
    verdict: str
    canary: str
    stable: str
    limit: str

    def as_dict(self) -> dict:
        return asdict(self)


def _pct(x: int, n: int) -> str:
    return f"{100 * x / n:.1f} % ({x}/{n})" if n else "no runs"


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.4f}"


def _success_gate(canary, stable, tolerance_pp: float) -> GateResult:
    c, s = canary.sums, stable.sums
    drop_pp = 100 * (s.successes / s.n - c.successes / c.n)
    _z, p_stable_higher = two_proportion_z(c.successes, c.n, s.successes, s.n)
    failed = drop_pp > tolerance_pp and p_stable_higher < SIGNIFICANCE
    return GateResult(
        "success",
        "Success rate",
        Verdict.FAIL if failed else Verdict.PASS,
        _pct(c.successes, c.n),
        _pct(s.successes, s.n),
        f"no significant drop over {tolerance_pp:g} points (drop {drop_pp:.1f}, p={p_stable_higher:.3f})",
    )


def _latency_gate(canary, stable, slo_ms: int) -> GateResult:
    p95 = canary.p95_ms
    failed = p95 is None or p95 > slo_ms
    return GateResult(
        "latency",
        "p95 latency",
        Verdict.FAIL if failed else Verdict.PASS,
        "—" if p95 is None else f"{p95:.0f} ms",
        "—" if stable.p95_ms is None else f"{stable.p95_ms:.0f} ms",
        f"≤ {slo_ms} ms (SLO)",
    )


def _cost_gate(canary, stable, tolerance_pct: float) -> GateResult:
    c, s = canary.sums, stable.sums
    c_cps = c.cost / c.successes if c.successes else None
    s_cps = s.cost / s.successes if s.successes else None
    limit = s_cps * (1 + tolerance_pct / 100) if s_cps is not None else None
    failed = c_cps is None or (limit is not None and c_cps > limit)
    return GateResult(
        "cost",
        "Cost per success",
        Verdict.FAIL if failed else Verdict.PASS,
        _usd(c_cps),
        _usd(s_cps),
        f"≤ {_usd(limit)} (stable + {tolerance_pct:g} %)",
    )


def gates_evaluate(*, plan, canary, stable, violations: int) -> list[GateResult]:
    """Every gate of ``plan``'s current stage on ``canary`` and ``stable``
    (``rollouts.selectors.VersionFigures``) and the canary's new violation count."""
    results = [
        GateResult(
            "violations",
            "New compliance violations",
            Verdict.FAIL if violations else Verdict.PASS,
            str(violations),
            "—",
            "0",
        )
    ]
    enough = canary.sums.n >= plan.min_sample and stable.sums.n >= plan.min_sample
    results.append(
        GateResult(
            "sample",
            "Sample size",
            Verdict.PASS if enough else Verdict.WAIT,
            f"{canary.sums.n} runs",
            f"{stable.sums.n} runs",
            f"≥ {plan.min_sample} runs each",
        )
    )
    if enough:
        results += [
            _success_gate(canary, stable, float(plan.success_tolerance_pp)),
            _latency_gate(canary, stable, plan.p95_slo_ms),
            _cost_gate(canary, stable, float(plan.cost_tolerance_pct)),
        ]
    return results


def overall(results: list[GateResult]) -> str:
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.WAIT if Verdict.WAIT in verdicts else Verdict.PASS
