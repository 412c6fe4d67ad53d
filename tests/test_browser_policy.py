"""The browser policy (issue 14, item 4): every console page answers with a strict
Content-Security-Policy (nonces, no 'unsafe-inline'), Permissions-Policy, Referrer-Policy and
X-Content-Type-Options, and carries no inline script, style or event handler the policy would
refuse; in Chromium, HTMX, the charts and Swagger UI work with the policy on (the shared
``new_page`` fixture fails a test on any violation)."""

from __future__ import annotations

import re
from collections import Counter, deque

import pytest
from django.test import Client

from tests.conftest import browser_login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAX_PAGES = 150
MAX_PER_SHAPE = 2
NEVER_FOLLOW = re.compile(r"^/(logout/|static/|media/|api/schema/)|[?&](export|format)=")
HREF = re.compile(r'href="(/[^"#]*)"')
# Data blocks (json_script: type="application/json") are not run, so the policy does not apply.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", path.split("?")[0])


def _policy_problems(path: str, response) -> list[str]:
    problems = []
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    for name in ("script-src", "style-src"):
        if "'unsafe-inline'" in directives.get(name, ["'unsafe-inline'"]) and path != "/api/docs/":
            problems.append(f"{path}: {name} missing or allows 'unsafe-inline'")
    if "'unsafe-eval'" in csp:
        problems.append(f"{path}: 'unsafe-eval'")
    if directives.get("object-src") != ["'none'"] or directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"{path}: object-src/frame-ancestors not 'none'")
    if "camera=()" not in response.headers.get("Permissions-Policy", ""):
        problems.append(f"{path}: no Permissions-Policy")
    if response.headers.get("Referrer-Policy") != "same-origin":
        problems.append(f"{path}: Referrer-Policy {response.headers.get('Referrer-Policy')}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{path}: no X-Content-Type-Options")
    if "html" in response.headers.get("Content-Type", "") and path != "/api/docs/":
        problems += _inline_code(path, response.content.decode(), csp)
    return problems


def _inline_code(path: str, body: str, csp: str) -> list[str]:
    """What the policy would refuse in the page: scripts without the nonce, handlers, styles."""
    problems = []
    nonce = re.search(r"'nonce-([^']+)'", csp)
    for match in INLINE_SCRIPT.finditer(body):
        if not nonce or f'nonce="{nonce.group(1)}"' not in match.group(0):
            problems.append(f"{path}: inline script without the nonce: {match.group(0)[:80]}")
    for pattern, what in ((INLINE_HANDLER, "event-handler attribute"), (STYLE_ATTRIBUTE, "style attribute")):
        if found := pattern.search(body):
            problems.append(f"{path}: {what}: {found.group(0)[:100]}")
    if STYLE_ELEMENT.search(body):
        problems.append(f"{path}: <style> element")
    return problems


def crawl(client: Client) -> tuple[list[str], list[str]]:
    """Every console page reachable from the home page (bounded, two per URL shape)."""
    queue, seen, shapes = deque(["/", "/login/", "/api/docs/", "/admin/"]), set(), Counter()
    visited, problems = [], []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        visited.append(path)
        problems.extend(_policy_problems(path, response))
        if "html" not in response.headers.get("Content-Type", ""):
            continue
        for link in HREF.findall(response.content.decode()):
            link = link.replace("&amp;", "&")
            if link in seen or NEVER_FOLLOW.search(link) or shapes[_shape(link)] >= MAX_PER_SHAPE:
                continue
            shapes[_shape(link)] += 1
            queue.append(link)
    return visited, problems


def test_every_console_page_has_the_security_headers_and_no_inline_code(agent, owner_user, board_user):
    anonymous = Client()
    visited, problems = crawl(anonymous)
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    for user in (superuser, owner_user, board_user):
        client = Client()
        client.force_login(user)
        pages, found = crawl(client)
        visited += pages
        problems += found
    assert len(visited) > 40, visited
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_an_api_answer_has_the_headers_too(client):
    from csp.utils import build_policy

    response = client.get("/api/v1/agents/")
    assert response.status_code == 401
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Built once per process (config/security_headers.py), the same text django-csp builds.
    assert response.headers["Content-Security-Policy"] == build_policy()


def test_a_page_that_draws_a_nonce_still_gets_its_own_policy(client, board_user):
    """The once-built policy is only for answers without a nonce: a page's scripts carry a fresh
    nonce, named in its header, different on the next page."""
    client.force_login(board_user)
    first, second = client.get("/agents/"), client.get("/agents/")
    nonces = [re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"]).group(1) for r in (first, second)]
    assert nonces[0] != nonces[1]
    assert f'nonce="{nonces[0]}"' in first.content.decode()


@pytest.mark.browser
def test_pages_htmx_and_swagger_work_with_the_policy_on(new_page, agent, board_user, transactional_db):
    page = new_page()
    browser_login(page, "board")
    for path in ("/", "/agents/", agent.get_absolute_url(), "/reports/", "/approvals/"):
        response = page.goto(path)
        assert response.status < 400, path
        assert "nonce-" in response.headers["content-security-policy"]
        # htmx 2 injects its indicator <style> unless told not to (the policy would refuse it).
        assert page.evaluate("document.querySelectorAll('style').length") == 0, path
    assert page.evaluate("window.htmx.config.includeIndicatorStyles") is False
    page.goto("/api/docs/")
    page.locator(".swagger-ui .information-container").wait_for()
    assert page.locator(".opblock").count() > 5
