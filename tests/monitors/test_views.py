"""The monitors pages: every role reaches them (or is refused with 403, never a 5xx); owners define
monitors and SLOs for their own agents, the board and operators for any scope; the board manages
channels; everyone sets their own alert e-mails. Bad input is a clear error and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from monitors.models import SLO, Monitor
from registry.channel_models import AlertChannel, AlertPreference
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

PAGES = ["monitors:index", "monitors:monitor_new", "monitors:slo_new", "monitors:channels", "monitors:preferences"]


@pytest.fixture
def roles(board_user, approver_user, owner_user, operator_user, executive_user, auditor_user, agent):
    return {
        "board": board_user,
        "approver": approver_user,
        "owner": owner_user,
        "operator": operator_user,
        "executive": executive_user,
        "auditor": auditor_user,
    }


# Who may open each page (others: 403).
ALLOWED = {
    "monitors:index": {"board", "approver", "owner", "operator", "executive", "auditor"},
    "monitors:monitor_new": {"board", "owner", "operator"},
    "monitors:slo_new": {"board", "owner", "operator"},
    "monitors:channels": {"board"},
    "monitors:preferences": {"board", "approver", "owner", "operator", "executive", "auditor"},
}


def test_every_page_as_every_role(client, roles):
    for name, user in roles.items():
        client.force_login(user)
        for page in PAGES:
            status = client.get(reverse(page)).status_code
            assert status == (200 if name in ALLOWED[page] else 403), (name, page, status)


def _monitor_post(**over):
    data = {"name": "Errors", "scope": "agent", "no_data": "ok", "metric_1": "error_rate", "comparator_1": "above"}
    data |= {"window_1": "10", "warning_1": "2", "alert_1": "5", "metric_2": "", "metric_3": ""}
    return data | over


def test_an_owner_defines_a_monitor_on_their_agent_only(client, owner_user, agent):
    client.force_login(owner_user)
    other = AgentFactory()
    response = client.post(reverse("monitors:monitor_new"), _monitor_post(agent=other.pk))
    assert response.status_code == 400 and not Monitor.objects.exists()  # not among the choices
    response = client.post(reverse("monitors:monitor_new"), _monitor_post(scope="portfolio"))
    assert response.status_code == 400 and "governance board and operators" in response.content.decode()
    response = client.post(
        reverse("monitors:monitor_new"),
        _monitor_post(agent=agent.pk, metric_2="p95_latency_ms", comparator_2="above", window_2="20", alert_2="8000"),
    )
    assert response.status_code == 302
    monitor = Monitor.objects.get()
    assert (monitor.agent, monitor.created_by, monitor.conditions.count()) == (agent, owner_user, 2)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"window_1": "2"}, "greater than or equal to 5"),
        ({"alert_1": "lots"}, "Enter a number"),
        ({"metric_1": "nonsense"}, "Select a valid choice"),
        ({"metric_2": "runs", "alert_2": ""}, "alert threshold of this condition"),
        ({"scope": "team"}, "Choose the team"),
        ({"scope": "agent"}, "Choose the agent"),
    ],
)
def test_bad_monitor_input_is_a_clear_error_and_saves_nothing(client, board_user, agent, over, message):
    client.force_login(board_user)
    response = client.post(reverse("monitors:monitor_new"), _monitor_post(**over))
    assert response.status_code == 400 and message in response.content.decode()
    assert not Monitor.objects.exists()


def test_the_board_defines_a_portfolio_monitor_and_an_slo(client, board_user, agent):
    client.force_login(board_user)
    assert client.post(reverse("monitors:monitor_new"), _monitor_post(scope="portfolio", name="All")).status_code == 302
    assert Monitor.objects.get().scope == "portfolio"
    slo = {"agent": agent.pk, "channel": "", "availability_target": "99.5", "latency_threshold_ms": "5000"}
    slo |= {"latency_target": "95", "period_days": "30"}
    assert client.post(reverse("monitors:slo_new"), slo).status_code == 302
    # A second SLO for the same agent and channel, and a target of 100 %, are refused.
    assert client.post(reverse("monitors:slo_new"), slo).status_code == 400
    response = client.post(reverse("monitors:slo_new"), slo | {"channel": "chat", "availability_target": "100"})
    assert response.status_code == 400 and SLO.objects.count() == 1


def test_the_board_adds_channels_checked_at_save(client, board_user, settings):
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = []
    client.force_login(board_user)
    url = reverse("monitors:channels")
    base = {"kind": "slack", "min_severity": "warning"}
    response = client.post(url, base | {"name": "internal", "url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 400 and "internal addresses" in response.content.decode()
    response = client.post(url, {"name": "pd", "kind": "pagerduty", "secret": "short", "min_severity": "info"})
    assert response.status_code == 400 and "32 characters" in response.content.decode()
    response = client.post(url, {"name": "mail", "kind": "email", "emails": "a@x.io, nope", "min_severity": "info"})
    assert response.status_code == 400 and "valid e-mail" in response.content.decode()
    assert not AlertChannel.objects.exists()
    response = client.post(
        url, {"name": "hook", "kind": "webhook", "url": "https://93.184.215.14/h", "min_severity": "info"}
    )
    assert response.status_code == 302
    assert AlertChannel.objects.get().secret.startswith("whsec_")  # made for the board, never shown
    assert AlertChannel.objects.get().secret not in client.get(url).content.decode()


def test_everyone_sets_their_own_alert_emails(client, executive_user):
    client.force_login(executive_user)
    response = client.post(reverse("monitors:preferences"), {"budget": "on"})
    assert response.status_code == 302
    prefs = dict(AlertPreference.objects.filter(user=executive_user).values_list("kind", "email"))
    assert prefs["budget"] is True and prefs["drift"] is False
