"""The newcomer's path: the real ``make run`` stack, started the way the README says.

One stack per test session: ``make run`` with a free port and a temporary ``var/``, in a pseudo-terminal
(as a person's shell runs it), with no database, cache or broker in the environment. So it runs the
embedded PostgreSQL server, the filesystem broker, gunicorn, a Celery worker and beat, exactly as a new
user meets them. At the end the fixture presses Ctrl-C and checks that everything stopped cleanly.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent.parent
DEMO_PASSWORD = "quorum-demo"
START_TIMEOUT_SECONDS = 420  # a fresh var/: initdb, every migration, the demo seed (about a minute here)
STOP_TIMEOUT_SECONDS = 90
# Variables of the test process that must not leak into the stack: it has to find its own way.
NOT_INHERITED = re.compile(
    r"^(DATABASE_URL|REDIS_URL|CELERY_BROKER_URL|CELERY_RESULT_BACKEND|DJANGO_SETTINGS_MODULE|DEBUG|SECRET_KEY|"
    r"ALLOWED_HOSTS|QUORUM_.*|WHITENOISE_USE_FINDERS|DJANGO_ALLOW_ASYNC_UNSAFE|PYTEST_.*|PORT)$"
)


def untracked_files() -> set[str]:
    """Files in the work tree that git neither tracks nor ignores."""
    listing = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"],  # noqa: S607
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(listing.stdout.splitlines())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """A running ``make run``: its URL, its terminal and everything it has printed so far."""

    url: str
    var_dir: Path
    process: subprocess.Popen
    terminal: int
    output: list[str] = field(default_factory=list)

    def read_available(self, timeout: float = 0.0) -> str:
        chunks = []
        while True:
            ready, _, _ = select.select([self.terminal], [], [], timeout)
            if not ready:
                break
            try:
                data = os.read(self.terminal, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not data:
                break
            chunks.append(data.decode(errors="replace"))
            timeout = 0.0
        text = "".join(chunks)
        self.output.append(text)
        return text

    @property
    def printed(self) -> str:
        return "".join(self.output)

    def login(self, username: str, password: str = DEMO_PASSWORD) -> httpx.Client:
        """A signed-in HTTP client, through the login form as a person would."""
        client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=30)
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.url}/login/"},
        )
        assert answer.status_code == 200 and "/login/" not in str(answer.url), (
            f"{username} could not log in: {answer.status_code} at {answer.url}"
        )
        return client


def _take_the_terminal() -> None:
    """In the child, before exec: make the pty on stdin the controlling terminal of its new session."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def spawn_make_run(*, cwd: Path, port: int, var_dir: Path, make_args: tuple[str, ...] = ()) -> Stack:
    """``make run`` in a pseudo-terminal of its own, as a person's shell starts it, with none of this
    process's database, cache or broker settings."""
    env = {k: v for k, v in os.environ.items() if not NOT_INHERITED.match(k)}
    # The sample MCP server of the gateway demo listens on a free port too (8765 by default).
    env.update({"QUORUM_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", "MCP_UPSTREAM_PORT": str(free_port())})
    leader, follower = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        ["make", "--no-print-directory", "run", f"PORT={port}", *make_args],  # noqa: S607
        cwd=cwd,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,  # a session of its own, with this pty as its controlling terminal
        preexec_fn=_take_the_terminal,  # noqa: PLW1509 - nothing but the ioctl runs there
    )
    os.close(follower)
    return Stack(url=f"http://127.0.0.1:{port}", var_dir=var_dir, process=process, terminal=leader)


def _start(tmp_root: Path) -> Stack:
    # The virtualenv running this suite is the one `make run` uses (make test installed it).
    venv = str(Path(sys.executable).parent.parent)
    return spawn_make_run(cwd=REPO, port=free_port(), var_dir=tmp_root / "var", make_args=(f"VENV={venv}",))


def _wait_until_serving(stack: Stack) -> float:
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_SECONDS:
        stack.read_available(timeout=1.0)
        if stack.process.poll() is not None:
            pytest.fail(f"make run exited with {stack.process.returncode}:\n{stack.printed[-6000:]}")
        if "Quorum is running" in stack.printed:
            try:
                if httpx.get(f"{stack.url}/login/", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
    pytest.fail(f"make run did not serve within {START_TIMEOUT_SECONDS} s:\n{stack.printed[-6000:]}")


def press_ctrl_c_and_wait(stack: Stack) -> int:
    """Ctrl-C at the terminal, as a person stops the demo; returns make's exit code."""
    os.write(stack.terminal, b"\x03")
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and stack.process.poll() is None:
        stack.read_available(timeout=0.5)
    stack.read_available(timeout=0.5)
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGKILL)
        pytest.fail(f"make run did not stop within {STOP_TIMEOUT_SECONDS} s of Ctrl-C:\n{stack.printed[-4000:]}")
    return stack.process.returncode


@pytest.fixture(scope="session")
def make_run_stack():
    # Not under pytest's basetemp: the PostgreSQL server runs as another user and must traverse the
    # path, and pytest makes its root 0700 again whenever another pytest session starts.
    root = Path(tempfile.mkdtemp(prefix="quorum-make-run-"))
    untracked_before = untracked_files()
    stack = _start(root)
    stack.untracked_before = untracked_before
    stack.startup_seconds = _wait_until_serving(stack)
    yield stack
    if stack.process.poll() is None:
        press_ctrl_c_and_wait(stack)
    os.close(stack.terminal)
    shutil.rmtree(root, ignore_errors=True)
