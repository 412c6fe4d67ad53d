from django.urls import path

from . import break_glass_views, views

app_name = "approvals"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:pk>/", views.request_detail, name="request_detail"),
    path("<int:pk>/decide/", views.decide, name="decide"),
    path("<int:pk>/checklist/<slug:key>/tick/", views.tick, name="tick"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:pk>/apply/", views.apply_now, name="apply"),
    path("<int:pk>/break-glass/", break_glass_views.break_glass, name="break_glass"),
    path("new/<slug:slug>/<slug:kind>/", views.request_start, name="request_start"),
]
