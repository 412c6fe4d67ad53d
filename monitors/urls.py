from django.urls import path

from . import views

app_name = "monitors"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.monitor_new, name="monitor_new"),
    path("slos/new/", views.slo_new, name="slo_new"),
    path("channels/", views.channels, name="channels"),
    path("preferences/", views.preferences, name="preferences"),
]
