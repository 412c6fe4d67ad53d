from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.agent_list, name="agent_list"),
    path("new/", views.agent_create, name="agent_create"),
    path("<slug:slug>/", views.agent_detail, name="agent_detail"),
    path("<slug:slug>/edit/", views.agent_edit, name="agent_edit"),
    path("<slug:slug>/versions/new/", views.version_create, name="version_create"),
]
