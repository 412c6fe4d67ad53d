"""Issue 14 item 1 for the action gate's webhook: an internal address is refused when the URL is
saved (the owner's form, the admin, the service) and when the webhook is sent (a row saved before
the guard, or a name that now resolves inside); the receiver on 127.0.0.1 gets nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from actions.models import ActionRequest, AgentGateSettings
from actions.services import gate_settings_update, webhook_deliver
from tests.registry.test_outbound import REFUSED

from .conftest import refund
from .receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def guard_on(settings):
    """Undo the loopback allowance the other tests of this app need."""
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = []


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_the_owner_cannot_save_a_webhook_on_an_internal_address(guard_on, client, agent, owner_user, host, reason):
    client.force_login(owner_user)
    response = client.post(f"/actions/agents/{agent.slug}/webhook/", {"webhook_url": f"http://{host}:6379/hook"})
    assert response.status_code == 400
    assert reason in response.text and "QUORUM_OUTBOUND_ALLOWED_HOSTS" in response.text
    assert not AgentGateSettings.objects.exists()


def test_the_service_and_the_admin_refuse_it_too(guard_on, client, agent):
    with pytest.raises(ValidationError) as refused:
        gate_settings_update(agent=agent, webhook_url="http://169.254.169.254/latest/meta-data/")
    assert "link-local" in str(refused.value.message_dict["webhook_url"])
    with pytest.raises(ValidationError):
        AgentGateSettings(agent=agent, webhook_url="http://localhost:6379/").full_clean()

    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/actions/agentgatesettings/add/",
        {"agent": agent.pk, "webhook_url": "http://[::ffff:10.0.0.1]/hook", "webhook_secret": "x"},
    )
    assert response.status_code == 200 and "private" in response.text
    assert not AgentGateSettings.objects.exists()


def test_a_stored_internal_webhook_is_refused_at_send_and_not_retried(guard_on, agent, agent_client, refund_policy):
    allowed = refund(agent_client, key="small", amount_usd=5, customer_tier="pro").json()
    with Receiver() as receiver:
        # Saved before the guard existed (or through a name that resolved outside back then).
        AgentGateSettings.objects.create(agent=agent, webhook_url=receiver.url.replace("127.0.0.1", "localhost"))
        assert webhook_deliver(action_request_id=allowed["id"]) == "refused"
        assert receiver.calls == []
    action = ActionRequest.objects.get(pk=allowed["id"])
    assert action.webhook_delivered_at is None and "loopback" in action.webhook_last_error
