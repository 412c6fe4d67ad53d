"""Pages composed from several apps (the home page, the agent card).

Each app contributes a section through a callable named in settings; the page
renders whatever the callables return, in order, so no app imports another's views."""

from __future__ import annotations

from django.utils.module_loading import import_string


def collect_sections(paths: list[str], *args) -> list[dict]:
    sections = []
    for path in paths:
        section = import_string(path)(*args)
        if section:
            sections.append(section)
    return sections
