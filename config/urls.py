from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from telemetry.api.otlp_views import otlp_traces

from . import views

# JSON under /api/, and 503 + Retry-After when the database is gone (see the view).
handler500 = "config.error_views.server_error"
handler404 = "config.error_views.not_found"

urlpatterns = [
    # First: agents call these on every step (config/api_urls.py); no other pattern starts with it.
    path("api/v1/", include("config.api_urls")),
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # OTLP/HTTP's standard path, so an exporter needs only the base URL (also under /api/v1/otlp/).
    path("v1/traces", otlp_traces, name="otlp-traces"),
    # Browsers ask for /favicon.ico whatever the page links; send them to the SVG (lazy: the
    # static storage's manifest is read on the first request, not at import).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sso/", include("registry.sso.urls")),
    # Second factors (registry/mfa.py): the sign-in second step, step-up, enrolment, passkeys.
    path("account/", include("registry.mfa_urls")),
    path("agents/", include("registry.urls")),
    path("approvals/", include("approvals.urls")),
    path("actions/", include("actions.urls")),
    path("incidents/", include("incidents.urls")),
    path("evals/", include("evals.urls")),
    path("reports/", include("reports.urls")),
    path("rollouts/", include("rollouts.urls")),
    path("monitors/", include("monitors.urls")),
    path("audit/", include("trail.urls")),
    path("compliance/", include("compliance.urls")),
    path("", include("telemetry.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's page carries one inline <style> (its own template): that view alone may use
    # inline styles; its script is served as a file (the split view), so script-src stays strict.
    path(
        "api/docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
