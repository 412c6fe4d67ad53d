"""`make bench` keeps working: the reports benchmark runs end to end at a small scale."""


def test_the_reports_benchmark_runs_and_prints_its_ratio(capsys):
    from bench.reports import main

    main(["reports", "--small", "2000", "--large", "8000", "--agents", "5", "--requests", "5", "--warmup", "1",
          "--db", "quorum_bench_reports_test", "--timeout", "300"])  # fmt: skip
    out = capsys.readouterr().out
    assert "runs: 2,000 then 8,000; 5 agents" in out
    assert "ratio" in out and "target (ratio ≤ 1.5, 1M p95 < 150 ms)" in out
