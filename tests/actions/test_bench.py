"""`make bench` keeps working: the gate benchmark runs end to end on a small load."""


def test_the_gate_benchmark_runs_and_prints_its_ratio(capsys):
    from bench.gate import main

    figures = main(["gate", "--requests", "64", "--clients", "4", "--workers", "2", "--db", "quorum_bench_gate_test"])
    out = capsys.readouterr().out
    assert "gate/bare" in out
    assert figures["gate_requests_per_s"] > 0 and figures["bare_requests_per_s"] > 0
    assert figures["ratio"] == figures["gate_requests_per_s"] / figures["bare_requests_per_s"]
