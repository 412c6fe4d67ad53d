from django.urls import path

from . import views

app_name = "monitors"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.monitor_new, name="monitor_new"),
    path("<int:pk>/edit/", views.monitor_edit, name="monitor_edit"),
    path("<int:pk>/delete/", views.monitor_delete, name="monitor_delete"),
    path("<int:pk>/active/", views.monitor_active, name="monitor_active"),
    path("slos/new/", views.slo_new, name="slo_new"),
    path("slos/<int:pk>/edit/", views.slo_edit, name="slo_edit"),
    path("slos/<int:pk>/delete/", views.slo_delete, name="slo_delete"),
    path("slos/<int:pk>/active/", views.slo_active, name="slo_active"),
    path("channels/", views.channels, name="channels"),
    path("preferences/", views.preferences, name="preferences"),
]
