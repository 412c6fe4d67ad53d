from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="incident_list"),
    path("new/", views.incident_create, name="incident_create"),
    path("metrics/", views.metrics, name="metrics"),
    path("action-items/", views.action_item_list, name="action_items"),
    path("action-items/<int:item_pk>/", views.action_item_update, name="action_item_update"),
    path("kill-switch/fleet/", views.fleet_kill_switch, name="fleet_kill_switch"),
    path("kill-switch/fleet/reenable/", views.fleet_reenable_request, name="fleet_reenable_request"),
    path("kill-switch/<slug:slug>/", views.kill_switch, name="kill_switch"),
    path("kill-switch/<slug:slug>/re-enable/", views.reenable_request, name="reenable_request"),
    path("<int:pk>/", views.incident_detail, name="incident_detail"),
    path("<int:pk>/edit/", views.incident_edit, name="incident_edit"),
    path("<int:pk>/transition/", views.incident_transition, name="incident_transition"),
    path("<int:pk>/notes/", views.incident_note, name="incident_note"),
    path("<int:pk>/runs/", views.incident_link_runs, name="incident_link_runs"),
    path("<int:pk>/postmortem/", views.postmortem_edit, name="postmortem_edit"),
    path("<int:pk>/postmortem/action-items/", views.action_item_add, name="action_item_add"),
]
