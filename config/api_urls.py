"""Everything under /api/v1/. Each app adds its own ``<app>.api.urls`` here."""

from django.urls import include, path

urlpatterns = [
    path("", include("registry.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("actions.api.urls")),
    path("", include("incidents.api.urls")),
    path("", include("telemetry.api.urls")),
    path("", include("evals.api.urls")),
    path("", include("trail.api.urls")),
    path("", include("compliance.api.urls")),
]
