"""The registry and incidents filter bars at 1366 px: styled controls, none overlapping another,
none overflowing its column, and a sort select that says what it does."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every label and control of the bar, with its box and its column's box, measured in the page.
MEASURE = """form => [...form.querySelectorAll('label:not(.visually-hidden), input:not([type=hidden]), select, button')]
  .map(el => {
    const r = el.getBoundingClientRect(), c = el.parentElement.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return {tag: el.tagName, name: el.name || el.textContent.trim(), x: r.left, y: r.top, r: r.right, b: r.bottom,
            cx: c.left, cr: c.right, appearance: cs.appearance, height: r.height};
  })"""


@pytest.fixture
def demo_board(db):
    from django.contrib.auth import get_user_model

    from registry.demo import seed_registry

    seed_registry()
    board = get_user_model().objects.get(username="board")
    board.set_password("pw")
    board.save()
    return board


def _overlap(a, b) -> bool:
    return min(a["r"], b["r"]) - max(a["x"], b["x"]) > 0.5 and min(a["b"], b["b"]) - max(a["y"], b["y"]) > 0.5


def _assert_bar_is_tidy(page, form_label: str) -> list[dict]:
    boxes = page.get_by_role("search", name=form_label).evaluate(MEASURE)
    assert len(boxes) >= 10, boxes
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not _overlap(a, b), f"{a['name']} overlaps {b['name']}"
        # nothing wider than its column (an unstyled select grows to its longest option)
        assert a["x"] >= a["cx"] - 0.5 and a["r"] <= a["cr"] + 0.5, f"{a['name']} overflows its column: {a}"
    controls = [b for b in boxes if b["tag"] in ("SELECT", "INPUT")]
    assert all(c["appearance"] == "none" for c in controls if c["tag"] == "SELECT"), "selects are styled"
    assert len({round(c["height"]) for c in controls}) == 1, "controls share one height"
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("search", name=form_label).screenshot(path=str(ARTIFACTS / f"{form_label.replace(' ', '-')}.png"))
    return boxes


def test_the_registry_filter_bar_at_1366(new_page, demo_board):
    page = new_page(viewport=(1366, 900))
    browser_login(page, "board")
    page.goto("/agents/")
    _assert_bar_is_tidy(page, "Filter agents")
    sort = page.get_by_label("Sort")
    assert sort.locator("option").first.inner_text() == "Sort: default"
    assert "---------" not in page.content()


def test_the_incidents_filter_bar_at_1366(new_page, demo_board):
    page = new_page(viewport=(1366, 900))
    browser_login(page, "board")
    page.goto("/incidents/")
    _assert_bar_is_tidy(page, "Filter incidents")
    page.get_by_label("Status").select_option("active")  # the longest option still fits
    _assert_bar_is_tidy(page, "Filter incidents")
