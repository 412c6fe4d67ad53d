from django.urls import path

from . import views

app_name = "telemetry"

urlpatterns = [
    path("tokens/", views.user_tokens, name="user_tokens"),
    path("tokens/<str:prefix>/revoke/", views.user_token_revoke, name="user_token_revoke"),
    path("telemetry/agents/<slug:slug>/keys/", views.agent_key_issue, name="agent_key_issue"),
    path("telemetry/agents/<slug:slug>/keys/<str:prefix>/rotate/", views.agent_key_rotate, name="agent_key_rotate"),
    path("telemetry/agents/<slug:slug>/keys/<str:prefix>/revoke/", views.agent_key_revoke, name="agent_key_revoke"),
]
