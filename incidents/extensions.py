"""What the apps above incidents add to an incident's page, registered from their
``AppConfig.ready()``.

* :data:`incident_sections` — ``(request, incident) -> PageSection | None``: a part of the
  incident page (a dict with the ``template`` to include and its context). Example: the
  serious-incident clock of the compliance workbench (``compliance/apps.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from registry.extensions import ExtensionPoint, PageSection

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import Incident

IncidentSection = Callable[["HttpRequest", "Incident"], PageSection | None]

incident_sections: ExtensionPoint[IncidentSection] = ExtensionPoint("incident page sections")
