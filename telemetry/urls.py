from django.urls import path

from . import views

app_name = "telemetry"

urlpatterns = [
    path("tokens/", views.user_tokens, name="user_tokens"),
    path("tokens/<str:prefix>/revoke/", views.user_token_revoke, name="user_token_revoke"),
    path("telemetry/agents/<slug:slug>/keys/", views.agent_key_issue, name="agent_key_issue"),
    path("telemetry/agents/<slug:slug>/keys/<str:prefix>/rotate/", views.agent_key_rotate, name="agent_key_rotate"),
    path("telemetry/agents/<slug:slug>/keys/<str:prefix>/revoke/", views.agent_key_revoke, name="agent_key_revoke"),
    path("telemetry/agents/<slug:slug>/runs/<str:run_id>/", views.run_detail, name="run_detail"),
    path("telemetry/discovery/", views.discovery_list, name="discovery_list"),
    path("telemetry/discovery/<int:pk>/promote/", views.discovery_promote, name="discovery_promote"),
    path("telemetry/discovery/<int:pk>/block/", views.discovery_block_view, name="discovery_block"),
    path("telemetry/discovery/keys/", views.discovery_key_issue_view, name="discovery_key_issue"),
    path("telemetry/discovery/keys/<str:prefix>/revoke/", views.discovery_key_revoke_view, name="discovery_key_revoke"),
]
