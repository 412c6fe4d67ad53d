"""gunicorn's settings for Quorum's web process: gunicorn reads this file when started from the
repository root (``gunicorn config.wsgi``), as production, the benchmarks and ``make run`` start it.

Threaded workers (``gthread``) instead of gunicorn's default ``sync`` workers, for keep-alive: a sync
worker closes the connection after every response, so every call an agent makes (the SDK, the MCP
gateway's ask before each tool call, telemetry exporters) paid a new TCP connection. Measured on
loopback with one worker each, interleaved, five rounds of 200 sequential auto-decided action
requests from one keep-alive client (load 5.4): p50 19.1 ms with sync workers, 13.6 ms with these.
Threads also let a worker overlap requests that wait on PostgreSQL. ``GUNICORN_THREADS`` (4) sets
the threads per worker, ``GUNICORN_KEEPALIVE`` (5 seconds) how long an idle connection is kept;
gunicorn's own ``WEB_CONCURRENCY`` (or ``--workers``) sets the number of worker processes.

Each worker freezes what it loaded at start (``post_worker_init``): see there."""

import gc
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


def post_worker_init(worker) -> None:
    """Move everything the worker loaded at start (Django, every view the URLconf imports) out of
    the garbage collector's sight: ``gc.freeze()``. Those objects live as long as the process, yet
    every full collection walked all of them (about 240,000): a 1,000-run batch allocates enough to
    trigger one every few batches, and it took ~200 ms of CPU with the interpreter lock held, so
    every other thread of the worker waited too. Measured in process, 30 batches of 1,000 runs:
    CPU per batch 90 ms with 29 ms of it in the collector, 57 ms (3.5 ms) frozen. Cycles made by
    requests are still collected; only the start-up objects are skipped."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf (every view) so the freeze covers it
    gc.collect()  # start-up garbage is freed, not frozen
    gc.freeze()
