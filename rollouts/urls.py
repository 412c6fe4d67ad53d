from django.urls import path

from . import views

app_name = "rollouts"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.agent_rollouts, name="agent"),
    path("<slug:slug>/lift/", views.lift, name="lift"),
    path("<slug:slug>/rollback/", views.rollback, name="rollback"),
    path("<slug:slug>/plans/<int:pk>/cancel/", views.plan_cancel, name="plan_cancel"),
]
