"""Shared fixtures: one standing user per role, an agent they can act on, the browser.

Every role user's password is ``pw``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from registry import roles
from tests.factories import AgentFactory, TeamFactory, UserFactory

CHROMIUM = os.environ.get("QUORUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def board_user(db):
    return UserFactory(username="board", roles=[roles.GOVERNANCE_BOARD])


@pytest.fixture
def approver_user(db):
    user = UserFactory(username="approver", roles=[roles.APPROVER])
    from guardian.shortcuts import assign_perm

    assign_perm("registry.approve_agent", user)
    return user


@pytest.fixture
def owner_user(db):
    return UserFactory(username="owner", roles=[roles.AGENT_OWNER])


@pytest.fixture
def other_owner_user(db):
    return UserFactory(username="owner2", roles=[roles.AGENT_OWNER])


@pytest.fixture
def operator_user(db):
    return UserFactory(username="operator", roles=[roles.OPERATOR])


@pytest.fixture
def executive_user(db):
    return UserFactory(username="executive", roles=[roles.EXECUTIVE])


@pytest.fixture
def auditor_user(db):
    return UserFactory(username="auditor", roles=[roles.AUDITOR])


@pytest.fixture
def outsider_user(db):
    """Signed in, but in no role."""
    return UserFactory(username="outsider")


@pytest.fixture
def team(db):
    return TeamFactory(slug="customer-support", name="Customer Support")


@pytest.fixture
def agent(db, owner_user, team):
    """A tier-2 production agent owned by ``owner_user`` with the owner's object rights."""
    from registry.services import agent_grant_owner_rights

    team.members.add(owner_user)
    agent = AgentFactory(slug="support-triage", name="Support Triage", owner=owner_user, owner_team=team)
    agent_grant_owner_rights(agent=agent)
    return agent


# --- browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Real Chromium through Playwright. If it cannot start, the test fails (never skips)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Reported by every page of a context (an init script is not subject to the page's policy).
REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${location.pathname}`));"""


@pytest.fixture
def new_page(browser, live_server):
    """``new_page()`` opens a fresh, isolated browser context (its own cookies) on the live server.

    Every browser test runs under the Content-Security-Policy: a violation (the page's own
    ``securitypolicyviolation`` event, or Chromium's console message) fails the test at teardown."""
    contexts, violations = [], []

    def _collect(message):
        if "Content Security Policy" in message.text or message.text.startswith("CSP violation"):
            violations.append(message.text)

    def _open(viewport=(1366, 900)):
        context = browser.new_context(base_url=live_server.url, viewport={"width": viewport[0], "height": viewport[1]})
        context.set_default_timeout(15_000)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("console", _collect)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(dict.fromkeys(violations)))


def browser_login(page, username: str, password: str = "pw") -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


# --- telemetry: agents as API principals -------------------------------------------------------


@pytest.fixture
def agent_key(agent):
    """The secret of a fresh API key acting as ``agent`` (``Authorization: Bearer <secret>``)."""
    from registry.services import agent_key_issue

    _key, secret = agent_key_issue(agent=agent, name="test key")
    return secret


@pytest.fixture
def agent_client(agent_key):
    """A DRF APIClient authenticated as ``agent`` with its own key."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_key}")
    return client


# --- a real Celery worker (evals; reusable by any app) ---------------------------------------


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real ``celery -A config worker`` subprocess on the test broker and the *test* database.

    Tests using it must be ``django_db(transaction=True)`` so the worker sees committed rows.
    The queue is purged first (stale messages of an earlier run would be harmless, but slow)."""
    import subprocess
    import sys
    import time
    import uuid

    from config.celery import app

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{host}/{db['NAME']}"
    node = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    app.control.purge()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-n",
            node,
            "--concurrency=2",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        deadline = time.monotonic() + 30
        while not app.control.ping(destination=[node], timeout=0.5):
            if proc.poll() is not None:
                raise RuntimeError(f"The Celery worker exited with {proc.returncode} before it was ready.")
            if time.monotonic() > deadline:
                raise RuntimeError("The Celery worker did not answer a ping within 30 s.")
        yield node
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- rows made by data migrations, after another transactional test's flush ------------------


SEED_MIGRATION_WORDS = ("seed", "role", "permission", "schedule")
_SEED_STEPS: list = []  # the RunPython callables of those migrations, in migration order


def rerun_seed_migrations() -> None:
    """Transactional tests (``django_db(transaction=True)``, browser tests) end with a flush of
    every table, which also removes what data migrations made: role groups and their permissions,
    approval policies, beat schedules. Re-run those (idempotent get_or_create) RunPython steps of
    the project's own apps, in migration order."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations.special import RunPython

    # The flush recreated content types under new ids; a cached old id breaks guardian lookups.
    ContentType.objects.clear_cache()
    from guardian.shortcuts import clear_ct_cache

    clear_ct_cache()
    if not _SEED_STEPS:
        # Found once per session: loading the migration graph took ~0.4 s of every transactional test.
        root = str(Path(__file__).resolve().parent.parent)
        local = {a.label for a in apps.get_app_configs() if a.path.startswith(root) and ".venv" not in a.path}
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        seen = set()
        for leaf in sorted(loader.graph.leaf_nodes()):
            for key in loader.graph.forwards_plan(leaf):
                if key in seen:
                    continue
                seen.add(key)
                label, name = key
                if label not in local or not any(word in name for word in SEED_MIGRATION_WORDS):
                    continue
                _SEED_STEPS.extend(op.code for op in loader.graph.nodes[key].operations if isinstance(op, RunPython))
    for code in _SEED_STEPS:
        with connection.schema_editor() as editor:
            code(apps, editor)


@pytest.fixture(autouse=True)
def _reseed_after_flush(request):
    marker = request.node.get_closest_marker("django_db")
    marked = marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    # A test may also ask for a transactional database by fixture (directly, or through
    # live_server) under a module's plain django_db marker: it needs the re-seed, and the
    # cleared content-type cache, just the same.
    asked = {"transactional_db", "live_server"} & set(request.fixturenames)
    if marked or asked:
        request.getfixturevalue("transactional_db")
        rerun_seed_migrations()


@pytest.fixture
def reseeded(transactional_db):
    """Explicit form of the autouse re-seed, for fixtures that need the roles before they run."""
    rerun_seed_migrations()


@pytest.fixture(autouse=True)
def _compliance_release_gates(request):
    """compliance's documentation gate and tier-1 FRIA gate (issue 21) hold every go-live and new
    version of an agent without its documents. The tests written before them release agents that
    have none, to prove other rules; there the two gates stand aside. ``tests/compliance`` proves
    them, and a test elsewhere opts in with ``@pytest.mark.compliance_gates``."""
    if "tests/compliance/" in str(request.node.path).replace("\\", "/") or request.node.get_closest_marker(
        "compliance_gates"
    ):
        yield
        return
    from approvals.extensions import apply_gates
    from compliance.assessments import fria_gate
    from compliance.documents import documentation_gate

    kept = [gate for gate in apply_gates if gate not in (documentation_gate, fria_gate)]
    with apply_gates.override(*kept):
        yield


@pytest.fixture(scope="module")
def demo_seeded_for_module(django_db_setup, django_db_blocker):
    """The demo (``seed_demo``, 7-8 s) seeded once for a test file instead of once per test. It
    lives in a transaction rolled back when the file ends, so no row reaches another file; each
    test's own transaction nests inside it as a savepoint, so what one test writes is gone before
    the next."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)
