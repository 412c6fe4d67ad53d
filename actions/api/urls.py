from django.urls import path

from . import views

urlpatterns = [
    path("action-requests/", views.ActionRequestListCreateView.as_view(), name="action-request-list"),
    path("action-requests/<str:pk>/", views.ActionRequestDetailView.as_view(), name="action-request-detail"),
    path("policies/<str:tool>/backtest/", views.PolicyBacktestView.as_view(), name="policy-backtest"),
    path("agent/tool-pins/", views.ToolPinsView.as_view(), name="agent-tool-pins"),
    path("agent/tool-pins/report/", views.ToolDefinitionReportView.as_view(), name="agent-tool-pins-report"),
]
