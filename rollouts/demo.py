"""Demo rollouts for ``manage.py seed_demo`` (filled in below)."""

from __future__ import annotations


def seed_rollouts(stdout=None) -> None:
    return None
