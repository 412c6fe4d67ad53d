from django.urls import path

from . import assessments_views, documents_views, drill_views, evidence_views, intake_views, serious_views

app_name = "compliance"

urlpatterns = [
    # Intake (compliance/intake.py)
    path("intake/", intake_views.intake_list, name="intake_list"),
    path("intake/new/", intake_views.intake_create, name="intake_create"),
    path("intake/<int:pk>/", intake_views.intake_detail, name="intake_detail"),
    path("intake/<int:pk>/score/", intake_views.intake_score, name="intake_score"),
    path("intake/<int:pk>/withdraw/", intake_views.intake_withdraw, name="intake_withdraw"),
    path("intake/<int:pk>/agent/", intake_views.intake_convert, name="intake_convert"),
    # Documentation gate and the agent card exports (compliance/documents.py)
    path("agents/<slug:slug>/documents/", documents_views.agent_documents, name="agent_documents"),
    path("agents/<slug:slug>/documents/<int:pk>/file/", documents_views.document_download, name="document_download"),
    path("agents/<slug:slug>/card.json", documents_views.agent_card_json, name="agent_card_json"),
    path("agents/<slug:slug>/card/", documents_views.agent_card_print, name="agent_card_print"),
    # Impact assessments (compliance/assessments.py)
    path("agents/<slug:slug>/assessments/", assessments_views.agent_assessments, name="agent_assessments"),
    path(
        "agents/<slug:slug>/assessments/<str:kind>/new/",
        assessments_views.assessment_create,
        name="assessment_create",
    ),
    path("assessments/<int:pk>/", assessments_views.assessment_detail, name="assessment_detail"),
    # Framework mapping with live evidence (compliance/evidence.py)
    path("frameworks/", evidence_views.portfolio_mapping, name="mapping"),
    path("frameworks/agents/<slug:slug>/", evidence_views.agent_mapping, name="agent_mapping"),
    path("frameworks/soa/", evidence_views.soa, name="soa"),
    path("frameworks/soa.csv", evidence_views.soa, {"fmt": "csv"}, name="soa_csv"),
    # Serious incidents, Art. 73 (compliance/serious.py)
    path("serious/<int:pk>/", serious_views.serious_detail, name="serious_detail"),
    path("serious/<int:pk>/classify/", serious_views.serious_classify, name="serious_classify"),
    path("serious/<int:pk>/reports/<str:stage>.<str:fmt>", serious_views.serious_report, name="serious_report"),
    path("serious/<int:pk>/reports/<str:stage>/submit/", serious_views.serious_submit, name="serious_submit"),
    # Kill-switch drills (compliance/drills.py)
    path("drills/", drill_views.drill_list, name="drill_list"),
    path("drills/start/", drill_views.drill_start, name="drill_start"),
    path("drills/<int:pk>/", drill_views.drill_detail, name="drill_detail"),
    path("drills/<int:pk>/finish/", drill_views.drill_finish, name="drill_finish"),
]
