"""SLO burn-rate alerts fire and clear on synthetic data at the documented windows
(monitors/burn.py: 1 h and 5 min at 14.4× and 6 h and 30 min at 6× alert; 3 days and 6 h at 1× warns)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from monitors.models import SLO
from monitors.services import slo_evaluate
from registry.channel_models import AlertRecord
from tests.factories import AgentFactory, UserFactory

from .conftest import NOW, fill


@pytest.fixture
def slo(db):
    agent = AgentFactory(owner=UserFactory(email="owner@example.test"))
    # Availability 99.5 %: the budget is 0.5 % of runs; latency: 95 % under 5 s, a 5 % budget.
    return SLO.objects.create(agent=agent, availability_target=Decimal("99.5"), latency_threshold_ms=5000)


def _open_keys() -> set[str]:
    return set(AlertRecord.objects.filter(resolved_at__isnull=True).values_list("dedup_key", flat=True))


def test_healthy_three_days_are_ok_with_the_whole_budget(slo, deliveries):
    fill(slo.agent, minutes=3 * 24 * 60)
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "ok"
    slo.refresh_from_db()
    assert slo.status["availability"]["budget_left_pct"] == 100.0
    assert _open_keys() == set()


def test_fast_burn_pages_after_an_hour_and_clears_five_minutes_after_it_stops(slo, deliveries):
    """10 % errors for the last hour burn 20× the budget: both the 1 h and the 5 min window are over
    14.4×, so it alerts (critical), once however often evaluated; two healthy buckets later the
    5 min window is clean and the alert is resolved (the 6 h window at 3.3× stays under 6×)."""
    fill(slo.agent, minutes=3 * 24 * 60)
    fill(slo.agent, minutes=60, bad=10)
    for _ in range(3):
        assert deliveries(slo_evaluate, slo=slo, now=NOW) == "alert"
    slo.refresh_from_db()
    assert slo.status["availability"]["burn"]["fast"] == {"long": 20.0, "short": 20.0, "factor": 14.4}
    assert _open_keys() == {f"slo:{slo.pk}:availability:alert"}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@example.test"]
    assert "[Critical]" in mail.outbox[0].subject

    later = NOW + timedelta(minutes=10)
    fill(slo.agent, minutes=10, end=later)
    assert deliveries(slo_evaluate, slo=slo, now=later) == "ok"
    assert _open_keys() == set()
    assert [m.subject.startswith("[Quorum] [Resolved]") for m in mail.outbox] == [False, True]


def test_a_short_spike_alone_does_not_page(slo, deliveries):
    """Half the runs fail for five minutes: the 5 min window burns 100×, but the hour only 8.3×."""
    fill(slo.agent, minutes=3 * 24 * 60)
    fill(slo.agent, minutes=5, bad=50)
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "ok"
    slo.refresh_from_db()
    assert slo.status["availability"]["burn"]["fast"]["short"] == 100.0
    assert slo.status["availability"]["burn"]["fast"]["long"] == pytest.approx(8.33, abs=0.01)


def test_slow_burn_pages_on_six_hours_and_thirty_minutes(slo, deliveries):
    """4 % errors for six hours burn 8×: over 6× on 6 h and 30 min, under 14.4× on the hour."""
    fill(slo.agent, minutes=3 * 24 * 60)
    fill(slo.agent, minutes=6 * 60, bad=4)  # 4 % errors: 8× the budget
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "alert"
    slo.refresh_from_db()
    burn = slo.status["availability"]["burn"]
    assert burn["slow"]["long"] == burn["slow"]["short"] == 8.0
    assert burn["fast"]["long"] < 14.4
    # Thirty clean minutes later the short window is clean: resolved, though the 6 h window still burns 7.3×.
    later = NOW + timedelta(minutes=30)
    fill(slo.agent, minutes=30, end=later)
    assert deliveries(slo_evaluate, slo=slo, now=later) == "ok"
    assert _open_keys() == set()


def test_a_slow_three_day_leak_warns_and_a_clean_six_hours_clears_it(slo, deliveries):
    """0.6 % errors for three days burn 1.2×: a warning (a ticket, not a page); six clean hours
    later the short window is clean and the warning is resolved."""
    fill(slo.agent, minutes=3 * 24 * 60, runs=500, bad=3)
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "warning"
    assert _open_keys() == {f"slo:{slo.pk}:availability:warning"}
    assert "[Warning]" in mail.outbox[0].subject
    later = NOW + timedelta(hours=6)
    fill(slo.agent, minutes=6 * 60, end=later, runs=500)
    assert deliveries(slo_evaluate, slo=slo, now=later) == "ok"
    assert _open_keys() == set()


def test_latency_sli_burns_on_slow_runs_and_escalation_pages(slo, deliveries):
    """Slow runs burn the latency budget (5 %): 20 % slow for 3 days is 4× (warning); then an hour
    at 90 % slow (18×) escalates to an alert — the warning's alert is resolved, the page opened."""
    fill(slo.agent, minutes=3 * 24 * 60, slow=20)
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "warning"
    assert _open_keys() == {f"slo:{slo.pk}:latency:warning"}
    fill(slo.agent, minutes=60, slow=90)
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "alert"
    assert _open_keys() == {f"slo:{slo.pk}:latency:alert"}


def test_a_channel_slo_reads_only_that_channels_runs(slo, deliveries):
    """An SLO on one channel counts that channel's raw runs (rollups do not split by channel): chat
    failing for the last hour pages the chat SLO; the agent-wide SLO (no rollups here) stays OK."""
    from tests.reports.factories import make_run

    chat = SLO.objects.create(agent=slo.agent, channel="chat", availability_target=Decimal("99.5"))
    for i in range(60):
        for channel, status in (("chat", "error" if i % 5 == 0 else "ok"), ("email", "ok")):
            run = make_run(
                slo.agent, started_at=NOW - timedelta(minutes=60) + timedelta(minutes=i), status=status, save=False
            )
            run.channel = channel
            run.save()
    assert deliveries(slo_evaluate, slo=chat, now=NOW) == "alert"  # 20 % of chat runs: 40×
    assert deliveries(slo_evaluate, slo=slo, now=NOW) == "ok"
    chat.refresh_from_db()
    assert chat.status["availability"]["burn"]["fast"]["long"] == 40.0
