"""gunicorn's settings for Quorum's web process: gunicorn reads this file when started from the
repository root (``gunicorn config.wsgi``), as production, the benchmarks and ``make run`` start it.

Threaded workers (``gthread``) instead of gunicorn's default ``sync`` workers, for keep-alive: a sync
worker closes the connection after every response, so every call an agent makes (the SDK, the MCP
gateway's ask before each tool call, telemetry exporters) paid a new TCP connection. Measured on
loopback with one worker each, interleaved, five rounds of 200 sequential auto-decided action
requests from one keep-alive client (load 5.4): p50 19.1 ms with sync workers, 13.6 ms with these.
Threads also let a worker overlap requests that wait on PostgreSQL. ``GUNICORN_THREADS`` (4) sets
the threads per worker, ``GUNICORN_KEEPALIVE`` (5 seconds) how long an idle connection is kept;
gunicorn's own ``WEB_CONCURRENCY`` (or ``--workers``) sets the number of worker processes."""

import os


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return value


worker_class = "gthread"
threads = _positive_int("GUNICORN_THREADS", 4)
keepalive = _positive_int("GUNICORN_KEEPALIVE", 5)
