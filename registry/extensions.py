"""Typed extension points: how an upper app contributes to something a lower app owns.

Apps depend downward only (``docs/ARCHITECTURE.md``, enforced by import-linter). When a lower
app needs something from the apps above it — a panel on the home page, a section on the agent
card, a count next to a navigation entry, demo data — it owns an :class:`ExtensionPoint`, and
each upper app registers into it from its ``AppConfig.ready()``, the way approvals'
``register_kind`` works. The import graph then tells the truth (the upper app imports the lower
one, never the other way round), and a renamed function fails when Django starts instead of
silently at run time, as a dotted path in settings would.

Extension points owned by the registry (the bottom app) are defined here; approvals and
telemetry define theirs in their own ``extensions.py`` with this same class."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import Agent, Review

T = TypeVar("T")


class ExtensionPoint(Generic[T]):
    """An ordered set of contributions of one type.

    Iteration is ordered by ``order`` (lower first), then by registration: the order of pages
    and of checks must not depend on which app's ``ready()`` happened to run first. The set is
    filled once at start-up and only read afterwards, so every process holds the same one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: list[tuple[int, int, T]] = []
        self._sequence = 0

    def register(self, item: T, *, order: int) -> T:
        """Add ``item`` at position ``order``. Registering an equal item again replaces the first
        registration (``ready()`` may run again in a test run), so nothing is ever counted twice."""
        self._entries = [entry for entry in self._entries if entry[2] != item]
        self._sequence += 1
        self._entries.append((order, self._sequence, item))
        self._entries.sort(key=lambda entry: (entry[0], entry[1]))
        return item

    def __iter__(self) -> Iterator[T]:
        # A snapshot: a test overriding the set while a page iterates must not break the loop.
        return iter([entry[2] for entry in self._entries])

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<ExtensionPoint {self.name}: {len(self)} registered>"

    @contextmanager
    def override(self, *items: T) -> Iterator[None]:
        """Tests: exactly ``items`` (in this order) while the block runs; the real set afterwards."""
        saved, saved_sequence = self._entries, self._sequence
        self._entries = [(index, index, item) for index, item in enumerate(items)]
        self._sequence = len(items)
        try:
            yield
        finally:
            self._entries, self._sequence = saved, saved_sequence


# A part of a composed page: a dict with the ``template`` to include and its context, or None
# when the part has nothing to show to this user.
PageSection = dict[str, Any]
HomePanel = Callable[["HttpRequest"], PageSection | None]
AgentCardSection = Callable[["HttpRequest", "Agent"], PageSection | None]
# Demo data for one app, run by ``manage.py seed_demo`` after the registry's own; idempotent.
DemoSeeder = Callable[..., None]  # (*, stdout) -> None


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation. ``perm`` hides it from users without that permission;
    ``badge`` counts something waiting for the user (shown next to the label when non-zero)."""

    label: str
    url_name: str
    perm: str | None = None
    badge: Callable[[Any], int] | None = None


@dataclass(frozen=True)
class ReviewFigures:
    """What an app above registry contributes to every review it opens (``registry.reviews``).

    ``snapshot(review=, today=)`` returns the JSON-ready figures for the review's period, merged
    into the dossier's snapshot (two providers use distinct top-level keys); ``page_path(review)``
    (optional) is the path of the page where the review is read and completed, for the e-mail."""

    snapshot: Callable[..., dict]
    page_path: Callable[[Review], str] | None = None


home_panels: ExtensionPoint[HomePanel] = ExtensionPoint("home page panels")
agent_card_sections: ExtensionPoint[AgentCardSection] = ExtensionPoint("agent card sections")
nav_items: ExtensionPoint[NavItem] = ExtensionPoint("navigation")
demo_seeders: ExtensionPoint[DemoSeeder] = ExtensionPoint("demo seeders")
review_figures: ExtensionPoint[ReviewFigures] = ExtensionPoint("review figures")


@dataclass(frozen=True)
class AutomaticChange:
    """A change Quorum is about to make to an agent on its own, without a human decision: a
    canary rolled back or a rollout stage advanced by the rollout task, a kill switch pulled by a
    drift check or a hard budget cap. ``kind`` names it (``canary_rollback``, ``rollout_step``,
    ``kill_switch``, ``budget_action``, ...); ``reason`` is the evidence in a sentence."""

    agent: Agent
    kind: str
    reason: str


# Called inside the transaction that makes the change, *before* the change is written. The EU AI
# Act (Art. 73(6)) forbids altering a system involved in a serious incident in a way that affects
# the investigation before the authorities are told; compliance registers a guard that freezes
# the evidence (version, controls, last runs and traces, hashed into the audit chain) first. An
# exception aborts the change.
AutomaticChangeGuard = Callable[[AutomaticChange], None]
before_automatic_change: ExtensionPoint[AutomaticChangeGuard] = ExtensionPoint("before automatic change")


def automatic_change_announce(*, agent: Agent, kind: str, reason: str) -> None:
    """Every automatic change to an agent calls this first, in its own transaction, before writing."""
    change = AutomaticChange(agent=agent, kind=kind, reason=reason)
    for guard in before_automatic_change:
        guard(change)


def page_sections_collect(point: ExtensionPoint[Callable[..., PageSection | None]], *args: Any) -> list[PageSection]:
    """The parts of a composed page (home, agent card), in order, leaving out those with nothing to show."""
    sections = []
    for contribute in point:
        section = contribute(*args)
        if section:
            sections.append(section)
    return sections
