"""`make bench` keeps working: the drift-check benchmark runs end to end at a tiny scale."""


def test_the_drift_benchmark_runs_and_prints_both_sides_and_the_ratio(capsys):
    from bench.drift import main

    main(["drift", "--agents", "6", "--runs", "300", "--db", "quorum_bench_drift_test", "--timeout", "300"])
    out = capsys.readouterr().out
    assert "runs: 1,800 (300 per agent over 24 h 40 min); 6 production agents" in out
    assert "raw scan (before):" in out and "drift check (now):" in out
    assert "ratio raw scan / check:" in out and "alerts 0" in out
