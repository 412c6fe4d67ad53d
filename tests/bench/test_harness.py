"""``make bench`` is trustworthy and keeps working: the harness interleaves A, B and an A/A
control, records the machine per round, and runs every benchmark end to end at a tiny scale."""

from __future__ import annotations

import itertools

from bench import harness


def test_compare_interleaves_a_b_and_the_control_in_every_order_and_reports_medians(capsys):
    calls: list[str] = []
    figures = {"a": itertools.count(100, 10), "b": itertools.count(50, 5)}

    def side(name):
        def fn() -> float:
            calls.append(name)
            return float(next(figures[name if name != "c" else "a"]))

        return fn

    sides = {"a": side("a"), "b": side("b")}
    row = harness.compare("synthetic", sides["a"], sides["b"], unit="x/s", rounds=6, goal=(">=", 0.4))
    # Each round runs A, B and A again; across six rounds every side is first, middle and last.
    rounds = [calls[i : i + 3] for i in range(0, 18, 3)]
    assert all(sorted(r) == ["a", "a", "b"] for r in rounds)
    assert {r.index("b") for r in rounds} == {0, 1, 2}
    assert len(row.a) == len(row.b) == len(row.control) == len(row.machine) == 6
    assert row.figure() == sorted(row.ratios())[2] / 2 + sorted(row.ratios())[3] / 2
    assert all(0 <= m.steal_pct <= 100 and m.load1 >= 0 for m in row.machine)
    assert row.met() is True
    out = capsys.readouterr().out
    assert "synthetic" in out and "B/A" in out and "A/A" in out and "load" in out and "steal" in out
    assert "synthetic" in harness.table()


def test_a_benchmark_runs_end_to_end_through_the_harness_at_a_tiny_scale_on_a_unique_database(capsys):
    import psycopg

    from bench.__main__ import run

    # The ingest bench: migrated template, a cloned database, gunicorn, COPY, the batch and single
    # APIs and the bare GET over http.client, two interleaved comparisons, the table.
    tiny = ["--rounds", "1", "--requests", "12", "--clients", "2", "--workers", "1", "--rows", "300"]
    before = len(harness.RESULTS)
    run(["telemetry", *tiny])
    rows = harness.RESULTS[before:]
    assert [r.name for r in rows] == ["runs: batch API ÷ COPY", "runs: single POST ÷ bare GET"]
    assert all(r.a[0] > 0 and r.b[0] > 0 and r.control[0] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "bench table" in out and out.count("A/A") >= 4
    # Every database the run made is gone (names are unique per run, so parallel runs never collide).
    pg = harness.os.environ.get("BENCH_PG", harness.DEFAULT_PG)
    with psycopg.connect(f"{pg}/postgres") as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'quorum_bench_%%'").fetchall()
    mine = {s.db for s in harness.STACKS}
    assert mine and not mine & {name for (name,) in left}


def test_the_goal_scale_runs_only_with_full_and_an_explicit_size_wins():
    # `make bench` fits 15 minutes on smaller default scales; --full runs the scales the goals name.
    assert harness.options("audit", ["audit"], entries=0).full is False
    assert harness.options("audit", ["audit", "--full"], entries=0).full is True
    assert harness.options("audit", ["--full", "--entries", "5"], entries=0).entries == 5
