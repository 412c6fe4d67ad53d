from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.portfolio, name="portfolio"),
    path("agents/<slug:slug>/", views.agent_roi, name="agent_roi"),
    path("agents/<slug:slug>/investment/", views.investment_edit, name="investment_edit"),
    path("reviews/", views.review_calendar, name="review_calendar"),
    path("reviews/overdue/", views.review_overdue, name="review_overdue"),
    path("reviews/new/", views.review_create, name="review_create"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/complete/", views.review_complete, name="review_complete"),
    path("reviews/<int:pk>/refresh/", views.review_refresh, name="review_refresh"),
    path("maturity/", views.maturity, name="maturity"),
    path("evidence/portfolio/", views.evidence_export_download, name="evidence_portfolio"),
    path("evidence/agents/<slug:slug>/", views.evidence_export_download, name="evidence_agent"),
]
