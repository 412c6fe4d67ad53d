"""Everything under /api/v1/. Each app adds its own ``<app>.api.urls`` here."""

from django.urls import include, path

# Django tries these in order for every request: the endpoints agents call on every step (runs,
# controls, the action gate) come first, so the resolver does not walk every other app's patterns
# on the hot path. The paths do not overlap, so the order changes nothing else.
urlpatterns = [
    path("", include("telemetry.api.urls")),
    path("", include("actions.api.urls")),
    path("", include("registry.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("incidents.api.urls")),
    path("", include("evals.api.urls")),
    path("", include("trail.api.urls")),
    path("", include("compliance.api.urls")),
]
