"""`make run` when a port it needs is taken (another dev server on 8000, a second demo): it says which
port, what it is for and how to choose another, and stops before starting anything. gunicorn or the
sample MCP server used to fail to bind only after PostgreSQL had started and the demo was seeded,
and honcho then stopped the whole stack with their tracebacks on screen."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from tests.newcomer.conftest import spawn_make_run

pytestmark = pytest.mark.make_run

EXIT_TIMEOUT_SECONDS = 180  # make's `install` step comes first (pip finds everything installed)


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _run_until_it_exits(tmp_path: Path, port: int, *make_args: str):
    venv = str(Path(sys.executable).parent.parent)
    stack = spawn_make_run(cwd=Path(__file__).resolve().parents[2], port=port, var_dir=tmp_path / "var",
                           make_args=(f"VENV={venv}", *make_args))  # fmt: skip
    deadline = time.monotonic() + EXIT_TIMEOUT_SECONDS
    while stack.process.poll() is None and time.monotonic() < deadline:
        stack.read_available(timeout=0.5)
    stack.read_available(timeout=0.5)
    if stack.process.poll() is None:
        stack.process.kill()
        pytest.fail(f"make run did not stop:\n{stack.printed[-4000:]}")
    return stack


def test_a_taken_console_port_is_named_before_anything_starts(tmp_path):
    with _listening() as taken:
        port = taken.getsockname()[1]
        stack = _run_until_it_exits(tmp_path, port)
    assert stack.process.returncode != 0
    expected = (f"Port {port} on 127.0.0.1 (the console) is not free: Address already in use. "
                f"Stop what uses it, or choose another: make run PORT={port + 1}")  # fmt: skip
    assert expected in stack.printed
    assert "Traceback" not in stack.printed and "PostgreSQL" not in stack.printed
    assert not (tmp_path / "var" / "postgres").exists()


def test_a_taken_mcp_demo_port_is_named_before_anything_starts(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with _listening() as taken:
        mcp_port = taken.getsockname()[1]
        stack = _run_until_it_exits(tmp_path, port, f"MCP_UPSTREAM_PORT={mcp_port}")
    assert stack.process.returncode != 0
    expected = (f"Port {mcp_port} on 127.0.0.1 (the sample MCP server) is not free: Address already in use. "
                f"Stop what uses it, or choose another: make run MCP_UPSTREAM_PORT={mcp_port + 1}")  # fmt: skip
    assert expected in stack.printed
    assert "Traceback" not in stack.printed and not (tmp_path / "var" / "postgres").exists()


def test_a_port_that_is_not_a_number_is_refused(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    stack = _run_until_it_exits(tmp_path, port, "MCP_UPSTREAM_PORT=http")
    assert stack.process.returncode != 0
    assert "error: MCP_UPSTREAM_PORT: 'http' is not a port number (1 to 65535)" in stack.printed
    assert "Traceback" not in stack.printed and not (tmp_path / "var" / "postgres").exists()
