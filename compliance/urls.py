from django.urls import path

from . import intake_views

app_name = "compliance"

urlpatterns = [
    # Intake (compliance/intake.py)
    path("intake/", intake_views.intake_list, name="intake_list"),
    path("intake/new/", intake_views.intake_create, name="intake_create"),
    path("intake/<int:pk>/", intake_views.intake_detail, name="intake_detail"),
    path("intake/<int:pk>/score/", intake_views.intake_score, name="intake_score"),
    path("intake/<int:pk>/withdraw/", intake_views.intake_withdraw, name="intake_withdraw"),
    path("intake/<int:pk>/agent/", intake_views.intake_convert, name="intake_convert"),
]
