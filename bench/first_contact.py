"""First contact: fresh clone to a logged-in console, and a re-start, timed as a newcomer meets them.

Clones this repository's HEAD into a temporary folder, runs the README's ``make run`` there in a
pseudo-terminal (a new ``.venv`` from the warm package cache, the embedded PostgreSQL, the demo seed),
and times until the ``owner`` demo login lands on the home page. Then Ctrl-C, ``make run`` again in
the same clone, and the same timing. Targets: ≤ 120 s from clone and ≤ 15 s to re-start.
``BENCH_ARGS="first_contact"`` runs it alone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.newcomer.conftest import Stack, free_port, press_ctrl_c_and_wait, spawn_make_run

REPO = Path(__file__).resolve().parent.parent
TARGET_FIRST_SECONDS = 120
TARGET_RESTART_SECONDS = 15


def _logged_in(url: str) -> bool:
    try:
        stack = Stack(url=url, var_dir=Path(), process=None, terminal=-1)  # type: ignore[arg-type]
        stack.login("owner").close()
        return True
    except (httpx.HTTPError, AssertionError, AttributeError):
        return False


def _make_run(clone: Path, port: int) -> Stack:
    return spawn_make_run(cwd=clone, port=port, var_dir=clone / "var")


def _time_until_logged_in(stack: Stack, started: float, limit: float = 600) -> float:
    while time.monotonic() - started < limit:
        stack.read_available(timeout=0.5)
        if stack.process.poll() is not None:
            raise SystemExit(f"make run exited with {stack.process.returncode}:\n{stack.printed[-3000:]}")
        if "Quorum is running" in stack.printed and _logged_in(stack.url):
            return time.monotonic() - started
    raise SystemExit(f"no console within {limit} s:\n{stack.printed[-3000:]}")


def main(args: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="quorum-first-contact-"))
    clone = workdir / "quorum"
    try:
        started = time.monotonic()
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)  # noqa: S603,S607
        stack = _make_run(clone, free_port())
        first = _time_until_logged_in(stack, started)
        press_ctrl_c_and_wait(stack)
        restarted = time.monotonic()
        stack = _make_run(clone, free_port())
        again = _time_until_logged_in(stack, restarted)
        press_ctrl_c_and_wait(stack)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"fresh clone -> logged-in console: {first:6.1f} s  (target <= {TARGET_FIRST_SECONDS} s, "
          f"ratio {first / TARGET_FIRST_SECONDS:.2f})")  # fmt: skip
    print(f"re-start    -> logged-in console: {again:6.1f} s  (target <= {TARGET_RESTART_SECONDS} s, "
          f"ratio {again / TARGET_RESTART_SECONDS:.2f})")  # fmt: skip
