"""``quorum-mcp``'s command line, and the sample upstream's (issue 17): a bad argument is refused
by name before anything starts (exit 2), and a port it cannot listen on is one line and exit 1,
not a traceback (an ``OSError`` or ``OverflowError`` from ``bind`` used to end the process)."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from .conftest import GATEWAY
from .conftest import UPSTREAM as UPSTREAM_SERVER

ENV = {**os.environ, "QUORUM_URL": "http://127.0.0.1:9", "QUORUM_AGENT_KEY": "qk_test.unused"}
UPSTREAM = ["--upstream", "http://127.0.0.1:9/mcp"]


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GATEWAY, *argv], env=ENV, capture_output=True, text=True, timeout=60)  # noqa: S603


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--http", "99999"], "argument --http: '99999' is not a port (0 to 65535; 0: any free port)"),
        (["--http", "web"], "argument --http: 'web' is not a port"),
        (["--approval-timeout", "-5"], "argument --approval-timeout: '-5' is not a number of seconds above 0"),
        (["--poll", "0"], "argument --poll: '0' is not a number of seconds above 0"),
        (["--poll", "nan"], "argument --poll: 'nan' is not a number of seconds above 0"),
    ],
)
def test_a_bad_argument_is_named_and_nothing_starts(argv, message):
    proc = _run(*UPSTREAM, *argv)
    assert proc.returncode == 2, proc.stderr
    assert f"quorum-mcp: error: {message}" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_port_already_taken_is_one_line_and_exit_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _run(*UPSTREAM, "--http", str(port))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == f"quorum-mcp: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert proc.stdout == ""  # no PORT line: nothing listens


def test_the_sample_upstream_refuses_a_bad_or_taken_port_the_same_way():
    bad = subprocess.run([*UPSTREAM_SERVER, "--http", "99999"], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert bad.returncode == 2 and "argument --http: '99999' is not a port" in bad.stderr, bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([*UPSTREAM_SERVER, "--http", str(port)], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert proc.returncode == 1, proc.stderr
    expected = f"quorum_mcp.sample_upstream: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert proc.stderr.strip() == expected
