"""Retention: parameters of decided requests are dropped after the policy's period; the decision stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import ActionRequest
from actions.services import parameters_purge_expired

from .conftest import refund

pytestmark = pytest.mark.django_db


def test_it_drops_parameters_past_retention_and_keeps_the_decision(agent_client, refund_policy):
    old = refund(agent_client, key="old", amount_usd=20, customer_tier="pro", order_id="A-1").json()
    new = refund(agent_client, key="new", amount_usd=20, customer_tier="pro", order_id="A-2").json()
    pending = refund(agent_client, key="pend", amount_usd=120, customer_tier="pro", order_id="A-3").json()
    long_ago = timezone.now() - timedelta(days=366)
    ActionRequest.objects.filter(pk__in=[old["id"], pending["id"]]).update(created_at=long_ago)
    assert parameters_purge_expired() == 1  # the pending one waits for its decision
    purged = ActionRequest.objects.get(pk=old["id"])
    assert purged.parameters == {"_purged": "[redacted]"}
    assert (purged.status, purged.rule_number, purged.policy_version_id) == ("allowed", 2, refund_policy.pk)
    assert ActionRequest.objects.get(pk=new["id"]).parameters["order_id"] == "A-2"
    assert parameters_purge_expired() == 0  # idempotent
