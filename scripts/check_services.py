"""Fail fast, with a clear message, when the test suite's PostgreSQL or Redis is unreachable."""

import os
import sys

import psycopg
import redis

database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum")
redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
admin_url = database_url.rsplit("/", 1)[0] + "/postgres"

problems = []
try:
    with psycopg.connect(admin_url, connect_timeout=5) as conn:
        conn.execute("select 1")
except Exception as exc:  # noqa: BLE001 - any failure means "not usable", reported verbatim
    problems.append(f"PostgreSQL is not reachable at {admin_url}: {exc}")
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
except Exception as exc:  # noqa: BLE001
    problems.append(f"Redis is not reachable at {redis_url}: {exc}")

if problems:
    print("make test needs a running PostgreSQL and Redis:", file=sys.stderr)
    for problem in problems:
        print("  - " + problem, file=sys.stderr)
    print("Start them (see README, 'Running the tests') or point DATABASE_URL / REDIS_URL elsewhere.", file=sys.stderr)
    sys.exit(2)
print(f"PostgreSQL ({admin_url}) and Redis ({redis_url}) are reachable.")
