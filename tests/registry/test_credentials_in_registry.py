"""Principals' credentials live in the registry: agents' keys next to people's tokens. The move
from telemetry kept the table and every key in it, and the content type moved with the model, so
its permissions and audit-log entries follow."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from registry.models import AgentAPIKey
from registry.services import agent_key_issue

pytestmark = pytest.mark.django_db


def test_it_keeps_the_table_telemetry_made():
    assert AgentAPIKey._meta.app_label == "registry"
    assert AgentAPIKey._meta.db_table == "telemetry_agentapikey"


def test_its_content_type_permissions_and_audit_entries_are_the_registry_s(agent, owner_user):
    key, _secret = agent_key_issue(agent=agent, name="ci", actor=owner_user)
    content_type = ContentType.objects.get_for_model(AgentAPIKey)
    assert content_type.app_label == "registry"
    assert not ContentType.objects.filter(app_label="telemetry", model="agentapikey").exists()
    assert Permission.objects.filter(content_type=content_type, codename="view_agentapikey").exists()
    assert LogEntry.objects.get_for_object(key).filter(action=LogEntry.Action.CREATE).exists()
