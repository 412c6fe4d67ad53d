from django.urls import path

from . import views

app_name = "trail"

urlpatterns = [
    path("", views.explorer, name="explorer"),
    path("entries/<int:seq>/object/", views.entry_object, name="entry_object"),
    path("verify/", views.chain_verify_now, name="chain_verify"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("export.jsonl", views.export_jsonl, name="export_jsonl"),
    path("why/actions/<uuid:pk>/", views.why_action_page, name="why_action"),
    path("why/requests/<int:pk>/", views.why_change_page, name="why_change"),
    path("retention/", views.retention, name="retention"),
    path("retention/rules/", views.retention_update, name="retention_update"),
    path("retention/holds/", views.hold_set, name="hold_set"),
    path("retention/holds/<int:pk>/release/", views.hold_release, name="hold_release"),
]
