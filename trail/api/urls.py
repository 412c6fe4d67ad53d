from django.urls import path

from .views import AuditEntryList

urlpatterns = [path("audit-entries/", AuditEntryList.as_view(), name="audit-entry-list")]
