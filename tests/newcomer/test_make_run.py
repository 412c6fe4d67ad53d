"""`make run` as a new user meets it: every role, every page, the two-person rule, and Ctrl-C.

The stack (``conftest.make_run_stack``) is the real one: the README's command, the embedded
PostgreSQL server, the filesystem broker, gunicorn, a Celery worker and beat. Nothing here touches the
test database: everything goes over HTTP, as a browser would. The tests run in file order; the last one
stops the stack.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from html import unescape
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest

from config.run_embedded import DEMO_LOGINS
from tests.newcomer.conftest import DEMO_PASSWORD, press_ctrl_c_and_wait, untracked_files

pytestmark = pytest.mark.make_run

MAX_PAGES_PER_ROLE = 400
# Pages of one shape (ids as N, the same query keys) visited per role: enough to catch a broken
# template for one row kind without walking every agent's every page.
MAX_PER_SHAPE = 1
SLOW_PAGE_SECONDS = 2.0
NEVER_FOLLOW = re.compile(r"^/(logout/|static/|favicon\.ico)")
HREF = re.compile(r"""href=["']([^"'#][^"']*)["']""")
INTERNALS = ("Traceback (most recent call last)", "Exception Value:", "settings.py", "INSTALLED_APPS")


def _shape(url: str) -> str:
    parts = urlsplit(url)
    keys = sorted({pair.split("=", 1)[0] for pair in parts.query.split("&") if pair})
    return re.sub(r"\d+", "N", parts.path) + "?" + "&".join(keys)


def _links(base: str, page_url: str, html: str) -> list[str]:
    found = []
    for href in HREF.findall(html):
        absolute, _fragment = urldefrag(urljoin(page_url, unescape(href)))
        if absolute.startswith(base + "/"):
            found.append(absolute[len(base) :])
    return found


def crawl(client, base: str) -> tuple[list[str], list[str]]:
    """GET every same-origin page reachable from the home page (bounded); return (visited, problems)."""
    queue, seen, shapes = deque(["/"]), {"/"}, Counter()
    visited, problems = [], []
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        path = queue.popleft()
        started = time.monotonic()
        response = client.get(path)
        elapsed = time.monotonic() - started
        visited.append(path)
        body = response.text if "text" in response.headers.get("content-type", "") else ""
        if response.status_code >= 400:
            problems.append(f"{response.status_code} {path}")
        elif urlsplit(str(response.url)).path == "/login/" and path != "/login/":
            problems.append(f"sent to the login page from {path}")
        if any(marker in body for marker in INTERNALS):
            problems.append(f"internals shown on {path}")
        if elapsed > SLOW_PAGE_SECONDS:
            problems.append(f"{elapsed:.1f} s for {path}")
        if "html" not in response.headers.get("content-type", ""):
            continue
        for link in _links(base, str(response.url), body):
            if link in seen or NEVER_FOLLOW.match(link):
                continue
            seen.add(link)
            if shapes[_shape(link)] < MAX_PER_SHAPE:
                shapes[_shape(link)] += 1
                queue.append(link)
    return visited, problems


@pytest.mark.parametrize("username", [username for username, _what in DEMO_LOGINS])
def test_every_demo_login_can_use_every_page_it_can_reach(make_run_stack, username):
    client = make_run_stack.login(username)
    visited, problems = crawl(client, make_run_stack.url)
    assert len(visited) > 10, f"{username} reached only {visited}"
    assert not problems, f"{username}: " + "; ".join(problems[:40])


def test_the_banner_names_the_url_and_every_demo_login(make_run_stack):
    printed = make_run_stack.printed
    assert f"Quorum is running at {make_run_stack.url}/" in printed
    for username, what in DEMO_LOGINS:
        assert re.search(rf"\b{username}\s+{re.escape(what)}", printed), username
    assert DEMO_PASSWORD in printed
    # The sample upstream MCP server of the README's gateway demo (tests/mcp/test_demo.py runs the demo).
    mcp_url = re.search(r"Sample MCP server \(payments\.refund\) for the MCP gateway demo: (\S+)", printed).group(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = httpx.post(mcp_url, json={}, headers={"Accept": "application/json, text/event-stream"}, timeout=5)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answers at {mcp_url}"
            time.sleep(0.2)
    assert answer.status_code < 500, answer.text  # an MCP server refusing a malformed request


def test_the_demo_runs_like_production(make_run_stack):
    client = make_run_stack.login("auditor")
    missing = client.get("/agents/no-such-agent-here/")
    assert missing.status_code == 404
    assert "Traceback" not in missing.text and "DEBUG" not in missing.text
    assert 'href="/agents/"' in missing.text  # the product's page, in the layout
    # Static files come from whitenoise with content hashes (collectstatic ran, DEBUG is off).
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', client.get("/").text).group(1)
    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), stylesheet
    assert client.get(stylesheet).status_code == 200
    assert (make_run_stack.var_dir / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.browser
def test_a_tool_grant_needs_two_approvers_in_two_browsers(make_run_stack, browser):
    def login(page, username):
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)

    viewport = {"width": 1366, "height": 900}
    contexts = [browser.new_context(base_url=make_run_stack.url, viewport=viewport) for _ in range(3)]
    try:
        for context in contexts:
            context.set_default_timeout(20_000)
        requester, first, second = (context.new_page() for context in contexts)

        # The owner asks for a tool grant on their tier-2 production agent.
        login(requester, "owner")
        requester.goto("/agents/order-status/")
        requester.get_by_role("link", name="Tool grant or scope expansion").click()
        requester.get_by_label("Tool").select_option("email.send")
        requester.get_by_label("Justification").fill("Send return labels by e-mail.")
        requester.get_by_role("button", name="Submit for approval").click()
        requester.wait_for_url("**/approvals/*/")
        request_url = requester.url
        assert "0 of 2 approvals" in requester.get_by_test_id("tally").inner_text()

        # Two approvers, each in a browser context of their own.
        for page, username in ((first, "approver"), (second, "board2")):
            login(page, username)
            page.goto(request_url)
            page.get_by_label("Reason").fill(f"{username}: e-mail is a low-risk channel here.")
            page.get_by_role("button", name="Approve").click()
        second.get_by_test_id("request-status").filter(has_text="Applied").wait_for()
        assert "2 of 2 approvals" in second.get_by_test_id("tally").inner_text()

        requester.goto("/agents/order-status/")
        assert "email.send" in requester.get_by_test_id("agent-tools").inner_text()
    finally:
        for context in contexts:
            context.close()


def test_ctrl_c_stops_everything_cleanly(make_run_stack):
    returncode = press_ctrl_c_and_wait(make_run_stack)
    printed = make_run_stack.printed
    assert returncode == 0, printed[-3000:]
    assert "Error 130" not in printed and "Interrupt" not in printed, printed[-3000:]
    assert "SIGKILL" not in printed, printed[-3000:]  # every process stopped on SIGTERM, in time
    assert "PostgreSQL stopped." in printed
    assert not (Path(make_run_stack.var_dir) / "postgres" / "postmaster.pid").exists()
    # Everything the stack writes lives under its var/: nothing new appeared in the work tree.
    assert untracked_files() - make_run_stack.untracked_before == set()
