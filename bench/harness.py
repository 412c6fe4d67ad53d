"""The one benchmark harness: every ``bench/<area>.py`` measures through it.

Why: on a shared two-core box a single A-then-B measurement says more about what the neighbours
did meanwhile than about A and B. So every comparison here is

* **interleaved**: A, B and an A/A control A' (A measured again) run once per round, the order
  rotating through all six permutations (A B A', A' B A, B A A', …), at least five rounds;
* **recorded**: each round logs the 1-minute load average and the CPU steal share (from
  ``/proc/stat`` deltas over the round);
* **summarised honestly**: the ratio B/A is printed as the median of the per-round ratios with
  its spread (min–max), and beside it the A'/A control, i.e. the noise floor. A ratio whose
  distance from 1 is within the control's spread tells you nothing.

Servers are real: ``Stack`` migrates a fresh database with a unique name (``demo=True``: a clone of
one database seeded with the demo per run, for the benches that read demo pages), starts gunicorn on a
free loopback port with production-like settings (DEBUG off, no debug toolbar, persistent
connections, the same agent throttle on every agent endpoint, the bare ``whoami`` included,
limit raised the same for all so nothing answers 429), and optionally a Celery worker. The
client is ``http.client`` with one keep-alive connection per client thread (``requests`` costs
~4× the CPU per call on the same two cores and pulls every ratio toward 1).

API for other benchmarks (``bench/audit.py``, ``bench/otlp.py``, …)::

    from bench import harness

    def main(args):
        opts = harness.options("mybench", args, requests=800)   # --rounds, --clients, --workers, --requests
        with harness.Stack("mybench", workers=opts.workers) as stack:
            stack.python(SETUP_CODE)                  # run Django code against the stack's database
            key = stack.agent_key()                   # a production agent with a deployed version
            a = lambda: harness.http_load(stack.url, harness.get("/api/v1/agent/whoami/", key),
                                          total=opts.requests, clients=opts.clients)
            b = lambda: harness.http_load(stack.url, my_request_factory, total=..., clients=...)
            harness.compare("my endpoint ÷ bare GET", a, b, unit="req/s", rounds=opts.rounds,
                            goal=(">=", 0.6))
        # or, for a figure with an absolute goal:
        harness.measure("drift cycle, 1,000 agents", fn_returning_seconds, unit="s",
                        rounds=5, goal=("<=", 10.0))

``compare`` and ``measure`` print their rows as they finish and keep them; ``python -m bench``
prints every row again as one table at the end (``harness.table()``). ``A``/``B`` callables
return a figure where higher or lower is better as stated by the goal; ratios are B/A.
Servers: PostgreSQL at ``BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``), Redis at
``BENCH_REDIS_URL`` (else ``REDIS_URL``, else ``redis://127.0.0.1:6379/15``)."""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIMEOUT = 600
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"

AGENT_SETUP = """
import django; django.setup()
from django.utils import timezone
from registry.models import Team, Agent, AgentVersion
from django.contrib.auth import get_user_model
from registry.services import agent_key_issue
user, _ = get_user_model().objects.get_or_create(username="bench")
team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
agent, _ = Agent.objects.get_or_create(slug="bench-agent", defaults=dict(name="Bench", purpose="bench",
    unit_of_work="run", kpi_name="runs", owner_team=team, owner=user, status="production"))
v, _ = AgentVersion.objects.get_or_create(agent=agent, label="1.0", defaults=dict(model_provider="openai",
    model_name="gpt-4o", prompt_ref="0" * 64, state="deployed", approved_at=timezone.now()))
_key, secret = agent_key_issue(agent=agent, name="bench")
print("RESULT", agent.pk, v.pk, secret)
"""


# --- the machine: load and CPU steal -----------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies since boot from the first line of /proc/stat (0, 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields]
    steal = values[7] if len(values) > 7 else 0
    # guest time is already counted in user; leave it out of the total.
    return steal, sum(values[:8])


@dataclass
class Machine:
    """What the box was doing during one measurement."""

    load1: float
    steal_pct: float


def _timed(fn: Callable[[], float]) -> tuple[float, Machine]:
    steal0, total0 = _cpu_times()
    value = fn()
    steal1, total1 = _cpu_times()
    spent = total1 - total0
    return value, Machine(load1=os.getloadavg()[0], steal_pct=100 * (steal1 - steal0) / spent if spent else 0.0)


# --- results -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a ratio B/A with its A/A control, or an absolute figure."""

    name: str
    unit: str
    a: list[float]
    b: list[float] = field(default_factory=list)
    control: list[float] = field(default_factory=list)
    machine: list[Machine] = field(default_factory=list)
    goal: tuple[str, float] | None = None

    @property
    def is_ratio(self) -> bool:
        return bool(self.b)

    def ratios(self) -> list[float]:
        return [b / a for a, b in zip(self.a, self.b, strict=True) if a]

    def controls(self) -> list[float]:
        return [c / a for a, c in zip(self.a, self.control, strict=True) if a]

    def figure(self) -> float:
        """What the goal is judged on: the median ratio, or the median of the figure."""
        return statistics.median(self.ratios() if self.is_ratio else self.a)

    def met(self) -> bool | None:
        if self.goal is None:
            return None
        op, bound = self.goal
        return self.figure() >= bound if op == ">=" else self.figure() <= bound

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.figure(),
            "spread": _spread(self.ratios() if self.is_ratio else self.a),
            "control": _spread(self.controls()) if self.control else None,
            "control_median": statistics.median(self.controls()) if self.control else None,
            "a_median": statistics.median(self.a),
            "b_median": statistics.median(self.b) if self.b else None,
            "rounds": len(self.a),
            "load1": [round(m.load1, 2) for m in self.machine],
            "steal_pct": [round(m.steal_pct, 1) for m in self.machine],
            "goal": list(self.goal) if self.goal else None,
            "met": self.met(),
        }


RESULTS: list[Row] = []


def _spread(values: list[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (0.0, 0.0)


def _goal_text(row: Row) -> str:
    if row.goal is None:
        return ""
    met = row.met()
    return f"{row.goal[0]} {row.goal[1]:g} {'met' if met else 'NOT met'}"


def _format(row: Row) -> str:
    loads = [m.load1 for m in row.machine] or [0.0]
    steal = max((m.steal_pct for m in row.machine), default=0.0)
    machine = f"load {min(loads):.1f}–{max(loads):.1f} steal ≤{steal:.1f}%"
    if row.is_ratio:
        lo, hi = _spread(row.ratios())
        clo, chi = _spread(row.controls())
        return (
            f"{row.name:<44} A {statistics.median(row.a):>9,.1f} B {statistics.median(row.b):>9,.1f} {row.unit:<7} "
            f"B/A {row.figure():5.2f} [{lo:.2f}–{hi:.2f}]  A/A {statistics.median(row.controls()):.2f} "
            f"[{clo:.2f}–{chi:.2f}]  {_goal_text(row):<16} n={len(row.a)} {machine}"
        )
    lo, hi = _spread(row.a)
    control = ""
    if row.control:
        clo, chi = _spread(row.controls())
        control = f"A/A {statistics.median(row.controls()):.2f} [{clo:.2f}–{chi:.2f}]"
    return (
        f"{row.name:<44} {row.figure():>11,.2f} {row.unit:<7} [{lo:,.2f}–{hi:,.2f}]{'':>12}{control:<24} "
        f"{_goal_text(row):<16} n={len(row.a)} {machine}"
    )


def record(row: Row) -> Row:
    RESULTS.append(row)
    print(_format(row), flush=True)
    return row


def table() -> str:
    """Every row recorded in this process, as one table with the date and the load."""
    head = f"bench table — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs"
    return "\n".join([head, *(_format(r) for r in RESULTS)])


# --- interleaving ------------------------------------------------------------------------------

ORDERS = list(itertools.permutations(("a", "b", "c")))


def compare(
    name: str,
    a: Callable[[], float],
    b: Callable[[], float],
    *,
    unit: str,
    rounds: int = 6,
    goal: tuple[str, float] | None = None,
) -> Row:
    """B against A, interleaved with an A/A control: each round measures A, B and A again
    (``c``), in an order that rotates through the six permutations, so no side always runs
    first or last. Returns (and prints) the row: median B/A, its spread, and A'/A beside it."""
    sides = {"a": a, "b": b, "c": a}
    got: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    machine: list[Machine] = []
    for n in range(max(rounds, 1)):
        load, steal = [], []
        for side in ORDERS[n % len(ORDERS)]:
            value, m = _timed(sides[side])
            got[side].append(value)
            load.append(m.load1)
            steal.append(m.steal_pct)
        machine.append(Machine(load1=max(load), steal_pct=max(steal)))
    return record(Row(name, unit, got["a"], got["b"], got["c"], machine, goal))


def measure(
    name: str, fn: Callable[[], float], *, unit: str, rounds: int = 5, goal: tuple[str, float] | None = None
) -> Row:
    """An absolute figure (e.g. seconds per drift cycle), ``rounds`` times, with its spread;
    the A/A control is each round against the first (how much the same thing moves)."""
    values, machine = [], []
    for _ in range(max(rounds, 1)):
        value, m = _timed(fn)
        values.append(value)
        machine.append(m)
    row = Row(name, unit, values, machine=machine, goal=goal)
    if len(values) > 1:
        # Consecutive pairs: round k against round k+1 of the same work.
        row.a, row.control = values, values[1:] + values[:1]
    return record(row)


def options(prog: str, args: list[str] | None, **defaults) -> argparse.Namespace:
    """The common options (``--rounds``, ``--clients``, ``--workers``, ``--requests``, ``--full``) plus any
    defaults given; unknown arguments (other benches' names) are ignored."""
    parser = argparse.ArgumentParser(prog=f"bench {prog}")
    parser.add_argument("--rounds", type=int, default=defaults.pop("rounds", 5))  # the least the harness allows
    parser.add_argument("--clients", type=int, default=defaults.pop("clients", 8))
    parser.add_argument("--workers", type=int, default=defaults.pop("workers", 2))
    parser.add_argument("--requests", type=int, default=defaults.pop("requests", 400))
    # `make bench` has a 15-minute budget: the million-row benches run a smaller default scale
    # (their rows name it) and the scale their goals name only with --full.
    parser.add_argument("--full", action="store_true")
    for key, value in defaults.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    opts, _ = parser.parse_known_args([a for a in (args or []) if a != prog])
    return opts


# --- the client --------------------------------------------------------------------------------

Request = tuple[str, str, bytes | None, dict[str, str], int]  # method, path, body, headers, expected status


def get(
    path: str, key: str | None = None, *, expect: int = 200, headers: dict | None = None
) -> Callable[[int], Request]:
    """A request factory for a GET with the agent key (the same request every time)."""
    hdrs = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    return lambda _i: ("GET", path, None, hdrs, expect)


def post_json(path: str, key: str, body: Callable[[int], dict], *, expect: int = 201) -> Callable[[int], Request]:
    """A request factory for a JSON POST whose body depends on the request number."""
    hdrs = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return lambda i: ("POST", path, json.dumps(body(i)).encode(), hdrs, expect)


def http_load(url: str, make: Callable[[int], Request], *, total: int, clients: int, check=None) -> float:
    """Requests/s of ``total`` requests from ``clients`` threads, each on its own keep-alive
    ``http.client`` connection; request ``i`` is ``make(i)`` (numbers are unique per call, so
    idempotency keys can be too). Any unexpected status (or ``check(body)`` false) raises."""
    host, port = url.removeprefix("http://").split(":")
    counter = itertools.count()
    base = next(_CALLS) * 10_000_000
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            while not errors:
                i = next(counter)
                if i >= total:
                    return
                method, path, body, headers, expect = make(base + i)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.status != expect or (check is not None and not check(data)):
                    errors.append(f"{method} {path} answered {response.status}: {data[:200]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    return total / elapsed


_CALLS = itertools.count(1)


# --- the stack ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float) -> None:
    host, port = url.removeprefix("http://").split(":")
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {url} in time")


STACKS: list[Stack] = []


class Stack:
    """A fresh database (unique name: runs never collide), migrated; then, on demand, gunicorn
    with ``workers`` processes and Celery workers, all with production-like settings. A context
    manager: everything it started is stopped and the database dropped on exit."""

    def __init__(
        self,
        name: str,
        *,
        workers: int = 2,
        serve: bool = True,
        celery: int = 0,
        env: dict[str, str] | None = None,
        demo: bool = False,
    ):
        self.extra_env = env or {}
        self.demo = demo  # clone a database seeded with the demo (``seed_demo``) instead of an empty one
        self.pg = os.environ.get("BENCH_PG", DEFAULT_PG).rstrip("/")
        self.db = f"quorum_bench_{name}_{uuid.uuid4().hex[:8]}"
        self.db_url = f"{self.pg}/{self.db}"
        self.redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_REDIS
        self.workers, self.serve, self.celery = workers, serve, celery
        self.url = ""
        self.procs: list[subprocess.Popen] = []
        self._key: tuple[int, int, str] | None = None
        STACKS.append(self)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
            "DEBUG": "0",
            "QUORUM_HTTPS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # One limit for every agent endpoint, high enough that no side answers 429.
            "TELEMETRY_RATE_LIMIT_PER_MINUTE": str(10**9),
            "CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            "WHITENOISE_USE_FINDERS": "1",
            "QUORUM_MANIFEST_STATIC": "0",
            # whitenoise warns once per process that var/staticfiles is absent (finders serve).
            "PYTHONWARNINGS": "ignore::UserWarning",
            **self.extra_env,
        }

    def __enter__(self) -> Stack:
        import psycopg

        template = _demo_template(self) if self.demo else _migrated_template(self)
        with psycopg.connect(f"{self.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}" TEMPLATE "{template}"')
        try:
            if self.serve:
                self.start_web(self.workers)
            for _ in range(self.celery):
                self.start_celery()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        _drop(self.pg, self.db)

    def manage(self, *argv: str) -> None:
        subprocess.run([PYTHON, "manage.py", *argv], cwd=ROOT, env=self.env, check=True, timeout=TIMEOUT)  # noqa: S603

    def session_cookie(self, username: str) -> dict[str, str]:
        """A ``Cookie`` header signed in as ``username`` (a demo login), made straight in the
        session store: the pages are measured, not the login form."""
        name, key = self.python(SESSION_FOR_USER, username)
        return {"Cookie": f"{name}={key}"}

    def python(self, code: str, *args: str, timeout: int = TIMEOUT) -> list[str]:
        """Run Django code against this database in a fresh interpreter; the words after the
        last line starting ``RESULT`` are returned (empty when there is none)."""
        proc = subprocess.run(  # noqa: S603 - our own interpreter, our own code
            [PYTHON, "-c", code, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"bench setup failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
        return results[-1].split()[1:] if results else []

    def agent_key(self) -> str:
        """The key of a production agent (``bench-agent``) with a deployed version 1.0."""
        if self._key is None:
            agent_id, version_id, secret = self.python(AGENT_SETUP)
            self._key = (int(agent_id), int(version_id), secret)
        return self._key[2]

    @property
    def agent_ids(self) -> tuple[int, int]:
        self.agent_key()
        assert self._key is not None
        return self._key[0], self._key[1]

    def start_web(self, workers: int) -> str:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "-b",
                    f"127.0.0.1:{port}",
                    "-w",
                    str(workers),
                    "--log-level",
                    "warning",
                    "--timeout",
                    "120",
                ],
                cwd=ROOT,
                env=self.env,
            )  # fmt: skip
        )
        _wait_http(self.url, time.time() + 90)
        return self.url

    def start_celery(self, concurrency: int = 1) -> None:
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(concurrency),
                    "--loglevel",
                    "WARNING",
                    "-n",
                    f"bench-{uuid.uuid4().hex[:6]}@%h",
                ],
                cwd=ROOT,
                env=self.env,
            )  # fmt: skip
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


_TEMPLATES: dict[str, str] = {}


def _migrated_template(stack: Stack) -> str:
    """A migrated database to clone (``CREATE DATABASE … TEMPLATE``: a copy of files, seconds
    instead of a migrate per stack), made once per process and dropped when it exits."""
    if stack.pg not in _TEMPLATES:
        import atexit

        import psycopg

        name = f"quorum_bench_template_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{stack.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop, stack.pg, name)
        env = {**stack.env, "DATABASE_URL": f"{stack.pg}/{name}"}
        subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT
        )
        _TEMPLATES[stack.pg] = name
    return _TEMPLATES[stack.pg]


def _demo_template(stack: Stack) -> str:
    """The migrated template with the demo seeded (``manage.py seed_demo``), made once per process:
    the benches that read demo pages clone it instead of seeding the demo each (a minute or more
    per bench, the demo's 90 days of telemetry)."""
    key = f"{stack.pg} demo"
    if key not in _TEMPLATES:
        import atexit

        import psycopg

        name = f"quorum_bench_demo_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{stack.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template(stack)}"')
        atexit.register(_drop, stack.pg, name)
        env = {**stack.env, "DATABASE_URL": f"{stack.pg}/{name}"}
        seed = [PYTHON, "manage.py", "seed_demo"]
        subprocess.run(seed, cwd=ROOT, env=env, check=True, timeout=TIMEOUT, stdout=subprocess.DEVNULL)  # noqa: S603
        _TEMPLATES[key] = name
    return _TEMPLATES[key]


def _drop(pg: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_modules() -> Iterator[str]:
    import pkgutil

    here = Path(__file__).parent
    yield from sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


SESSION_FOR_USER = r"""
import sys
import django; django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
user = get_user_model().objects.get(username=sys.argv[1])
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
print("RESULT", settings.SESSION_COOKIE_NAME, store.session_key)
"""
