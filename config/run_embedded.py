"""``make run``: the console with demo data, running like production, with no server to install.

Starts the embedded PostgreSQL server (``config/embedded_postgres.py``) unless ``DATABASE_URL`` names
one, migrates, collects static files, seeds the demo, prints the URL and every demo login, then runs
web (gunicorn), worker and beat from ``Procfile.embedded`` under honcho. Ctrl-C stops the three
processes gracefully, then shuts PostgreSQL down, and exits 0.

The demo runs with ``DEBUG`` off: a secret key generated once and kept in ``var/secret_key``, static
files served by whitenoise, product error pages. ``PORT`` picks the port (``QUORUM_BASE_URL`` follows).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import socket
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = BASE_DIR / "Procfile.embedded"
# Seconds honcho waits after SIGTERM before it SIGKILLs a process: a Celery worker's warm shutdown
# finishes the task in hand, which can take longer than honcho's default of 5 s.
GRACEFUL_STOP_SECONDS = 30

# What each demo login is for: printed at start, and the README's "first five minutes" repeats it.
DEMO_LOGINS = [
    ("board", "governance board: registers agents, reviews changes, decides tier-1 requests"),
    ("board2", "second board member, for the two-person rule on tier-1 changes"),
    ("approver", "approver for every agent: the Approvals queue"),
    ("approver2", "approver for IT and platform agents only"),
    ("owner", "agent owner (Customer Support): edits own agents, requests changes"),
    ("owner2", "agent owner (IT Operations, Sales)"),
    ("operator", "operator: pulls the kill switch, opens incidents, writes postmortems"),
    ("executive", "executive: ROI, portfolio and budget pages (read only)"),
    ("auditor", "auditor: reads everything, including the audit history (read only)"),
    ("support1", "support manager: decides pending refunds over 50 USD (Approvals)"),
    ("support2", "second support manager, for the two-person rule on large refunds"),
    ("admin", "superuser: everything, and the Django admin at /admin/"),
]


def _secret_key(var_dir: Path) -> str:
    """Generated once, kept in ``var/secret_key`` (0600), so sessions survive a re-start."""
    path = var_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _environment(*, port: int, var_dir: Path) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        # Plain HTTP on localhost: no HTTPS redirect, no secure-only cookies.
        "QUORUM_HTTPS": "0",
        "SECRET_KEY": _secret_key(var_dir),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,[::1]",
        "QUORUM_BASE_URL": f"http://127.0.0.1:{port}",
        "QUORUM_VAR_DIR": str(var_dir),
        "PORT": str(port),
        # The sample upstream MCP server of the README's gateway demo (Procfile.embedded, "mcp").
        "MCP_UPSTREAM_PORT": os.environ.get("MCP_UPSTREAM_PORT") or "8765",
    }
    # An explicit setting in the caller's environment wins (DATABASE_URL selects any PostgreSQL).
    return {**env, **{k: v for k, v in os.environ.items() if k in ("SECRET_KEY", "ALLOWED_HOSTS") and v}}


@contextmanager
def _own_terminal():
    """Make this process group the terminal's foreground group while the stack runs.

    Ctrl-C sends SIGINT to the terminal's foreground process group, which includes ``make``; make then
    dies with "*** [run] Interrupt" whatever its recipe does. With our own group in the foreground, only
    this launcher sees Ctrl-C; it stops everything and exits 0, and make finishes quietly."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR) if sys.stdin.isatty() else None
    except OSError:
        tty = None
    if tty is None:
        yield
        return
    previous = os.tcgetpgrp(tty)
    old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set the terminal
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(tty, os.getpgrp())
        yield
    finally:
        with suppress(OSError):
            os.tcsetpgrp(tty, previous)
        signal.signal(signal.SIGTTOU, old_ttou)
        os.close(tty)


def _prepare(*, seed: bool) -> None:
    """Migrate, collect static files and seed the demo, in this process (one Django start, not three)."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    _collect_static_if_changed()
    if seed:
        call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115 - closed at exit
    connections.close_all()  # nothing of ours holds a session when the database stops


def _static_sources_fingerprint() -> str:
    """A digest of every static source file's path, size and modification time, across all finders."""
    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in finder.list([]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _collect_static_if_changed() -> None:
    """collectstatic, unless the sources are exactly those collected last time: hashing and compressing
    every file again took seconds of each re-start."""
    from django.conf import settings
    from django.core.management import call_command

    stamp = Path(settings.STATIC_ROOT) / ".sources-fingerprint"
    fingerprint = _static_sources_fingerprint()
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(fingerprint)


def _banner(port: int) -> str:
    from registry.demo import DEMO_PASSWORD

    lines = [
        "",
        f"  Quorum is running at http://127.0.0.1:{port}/   (Ctrl-C stops everything)",
        f"  Demo logins, all with the password {DEMO_PASSWORD!r}:",
        *(f"    {username:<10} {what}" for username, what in DEMO_LOGINS),
        f"  Sample MCP server (payments.refund) for the MCP gateway demo: "
        f"http://127.0.0.1:{os.environ['MCP_UPSTREAM_PORT']}/mcp",
        "",
    ]
    return "\n".join(lines)


def loopback_port(text: str) -> int:
    """A port to listen on (1 to 65535), for ``--port`` and ``MCP_UPSTREAM_PORT``."""
    port = int(text) if text.strip().isdigit() else 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return port


def ports_in_use(port: int, mcp_port: int) -> list[str]:
    """What to tell the user for each loopback port of the stack that something already listens
    on (checked before anything starts: gunicorn or the sample MCP server would fail to bind
    after the database had started and the demo was seeded, and honcho would stop everything)."""
    messages = []
    for number, what, setting in (
        (port, "the console", "PORT"),
        (mcp_port, "the sample MCP server", "MCP_UPSTREAM_PORT"),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As gunicorn and uvicorn bind: connections of an earlier run waiting out TIME_WAIT
            # do not make a port busy, a listener does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", number))
            except OSError as exc:
                messages.append(
                    f"Port {number} on 127.0.0.1 ({what}) is not free: {exc.strerror or exc}. "
                    f"Stop what uses it, or choose another: make run {setting}={number + 1}"
                )
    return messages


def _run_processes(env: dict[str, str]) -> int:
    import honcho.manager
    from honcho.environ import parse_procfile

    honcho.manager.KILL_WAIT = GRACEFUL_STOP_SECONDS
    manager = honcho.manager.Manager()
    # gunicorn and celery come from this virtualenv, whether or not it is activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    for name, command in parse_procfile(PROCFILE.read_text()).processes.items():
        manager.add_process(name, command, env={**os.environ, **env, "PATH": path}, cwd=str(BASE_DIR))
    manager.loop()
    # 130/143: stopped by Ctrl-C or SIGTERM, which is how the demo is meant to end.
    return 0 if manager.returncode in (None, 0, 130, 143) else manager.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=loopback_port, default=os.environ.get("PORT") or "8000")
    parser.add_argument("--var-dir", type=Path, default=Path(os.environ.get("QUORUM_VAR_DIR") or BASE_DIR / "var"))
    parser.add_argument("--no-seed", action="store_true", help="skip seed_demo")
    args = parser.parse_args(argv)

    var_dir = args.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    os.environ.update(_environment(port=args.port, var_dir=var_dir))
    try:
        mcp_port = loopback_port(os.environ["MCP_UPSTREAM_PORT"])
    except argparse.ArgumentTypeError as exc:
        parser.error(f"MCP_UPSTREAM_PORT: {exc}")
    busy = ports_in_use(args.port, mcp_port)
    if busy:
        print("\n".join(busy), file=sys.stderr, flush=True)
        return 1

    from config import embedded_postgres

    data_dir = var_dir / "postgres"
    own_database = not os.environ.get("DATABASE_URL")
    with _own_terminal():
        try:
            if own_database:
                print(f"Starting the embedded PostgreSQL server ({data_dir}) ...", flush=True)
                os.environ["DATABASE_URL"] = embedded_postgres.start(data_dir)
            print("Migrating, collecting static files and seeding the demo ...", flush=True)
            _prepare(seed=not args.no_seed)
            print(_banner(args.port), flush=True)
            print(f"  (ready to start in {time.monotonic() - started:.1f} s)", flush=True)
            returncode = _run_processes({})
        except KeyboardInterrupt:
            print("\nInterrupted.", flush=True)
            returncode = 0
        finally:
            if own_database and embedded_postgres.stop(data_dir):
                print("PostgreSQL stopped.", flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
