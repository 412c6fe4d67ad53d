from django.urls import path

from . import otlp_views, views

urlpatterns = [
    path("runs/", views.RunCreateView.as_view(), name="telemetry-run-create"),
    path("runs/batch/", views.RunBatchView.as_view(), name="telemetry-run-batch"),
    path("controls/", views.ControlsView.as_view(), name="telemetry-controls"),
    path("agent/whoami/", views.WhoAmIView.as_view(), name="telemetry-whoami"),
    path("otlp/v1/traces", otlp_views.otlp_traces, name="telemetry-otlp-traces-alias"),
]
