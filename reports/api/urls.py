from django.urls import path

from .views import AgentRoiView, MaturityView, PortfolioView, ReviewsDueView

urlpatterns = [
    path("reports/portfolio/", PortfolioView.as_view(), name="reports-portfolio"),
    path("reports/agents/<slug:slug>/roi/", AgentRoiView.as_view(), name="reports-agent-roi"),
    path("reports/maturity/", MaturityView.as_view(), name="reports-maturity"),
    path("reports/reviews/due/", ReviewsDueView.as_view(), name="reports-reviews-due"),
]
