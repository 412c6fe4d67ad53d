from django.urls import path

from . import views

app_name = "evals"

urlpatterns = [
    path("", views.index, name="index"),
    path("agents/<slug:slug>/", views.agent_evals, name="agent_evals"),
    path("agents/<slug:slug>/target/", views.target_edit, name="target_edit"),
    path("agents/<slug:slug>/drift-policy/", views.driftpolicy_edit, name="driftpolicy_edit"),
    path("agents/<slug:slug>/runs/new/", views.run_start, name="run_start"),
    path("sets/<int:pk>/", views.goldenset_detail, name="goldenset_detail"),
    path("set-versions/<int:pk>/", views.setversion_detail, name="setversion_detail"),
    path("set-versions/<int:pk>/import/", views.setversion_import, name="setversion_import"),
    path("set-versions/<int:pk>/export.jsonl", views.setversion_export, name="setversion_export"),
    path("set-versions/<int:pk>/new-version/", views.setversion_new, name="setversion_new"),
    path("set-versions/<int:pk>/freeze/", views.setversion_freeze, name="setversion_freeze"),
    path("cases/<int:pk>/", views.case_edit, name="case_edit"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("results/<int:pk>/rate/", views.result_rate, name="result_rate"),
    path("judges/<int:pk>/", views.judge_detail, name="judge_detail"),
    path("drift/", views.alert_list, name="alert_list"),
    path("drift/<int:pk>/", views.alert_detail, name="alert_detail"),
]
