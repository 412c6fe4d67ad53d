from django.urls import path

from . import views

app_name = "actions"

urlpatterns = [
    path("", views.index, name="index"),
    path("policies/<str:tool>/", views.policy_detail, name="policy_detail"),
    path("policies/<str:tool>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<str:tool>/backtest/", views.policy_backtest_page, name="policy_backtest"),
    path("policies/<str:tool>/shadow/", views.shadow_propose, name="shadow_propose"),
    path("policies/<str:tool>/shadow/promote/", views.shadow_promote, name="shadow_promote"),
    path("policies/<str:tool>/shadow/stop/", views.shadow_stop, name="shadow_stop"),
    path("requests/<uuid:pk>/", views.request_detail, name="request_detail"),
    path("agents/<slug:slug>/webhook/", views.webhook_update, name="webhook_update"),
]
