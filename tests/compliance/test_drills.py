"""Kill-switch drills: a live drill against an agent that polls the controls API from a thread
(a live server), measured and recorded; dry runs; the two-person restore; bad input."""

import threading
import time

import pytest
import requests
from django.utils import timezone

from actions.demo import OTHER_POLICIES
from actions.models import ActionRequest
from actions.services import policy_version_create
from approvals.models import ApprovalRequest
from compliance import drills as services
from compliance.evidence import EVIDENCE_QUERIES
from compliance.models import DrillMode, KillSwitchDrill
from registry.models import Agent
from tests.actions.conftest import grant_deployed
from tests.factories import ToolFactory


@pytest.fixture
def pilot(agent, board_user):
    Agent.objects.filter(pk=agent.pk).update(status="pilot")
    agent.refresh_from_db()
    tool = ToolFactory(name="email.send", system="SendGrid", action_tier=2)
    grant_deployed(agent, tool)
    policy_version_create(tool=tool, actor=board_user, **OTHER_POLICIES["email.send"])
    return agent


class PollingAgent(threading.Thread):
    """An agent that polls its controls and, while side effects are on (and no drill says off),
    sends an e-mail through the action gate after each poll; it stops once told to."""

    def __init__(self, base_url: str, key: str):
        super().__init__(daemon=True)
        self.base, self.session = base_url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.sent = 0
        self.warmed_up = threading.Event()
        self.saw_off_at = None
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                controls = self.session.get(f"{self.base}/api/v1/controls/", timeout=10).json()
                on = controls["side_effects_enabled"] and controls.get("drill", {}).get("side_effects_enabled", True)
                if not on:
                    self.saw_off_at = timezone.now()
                    return
                body = {
                    "tool": "email.send",
                    "idempotency_key": f"mail-{self.sent}",
                    "parameters": {"recipient_domain": "example.com", "template": "order_update", "recipients": 1},
                }
                answer = self.session.post(f"{self.base}/api/v1/action-requests/", json=body, timeout=10)
                assert answer.status_code in (200, 201), answer.text
                self.sent += 1
                if self.sent >= 2:
                    self.warmed_up.set()
        except Exception as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
            self.warmed_up.set()


@pytest.mark.django_db(transaction=True)
def test_a_live_drill_measures_both_times_against_an_agent_polling_a_live_server(
    live_server, pilot, agent_key, operator_user
):
    polling = PollingAgent(live_server.url, agent_key)
    polling.start()
    assert polling.warmed_up.wait(20) and polling.error is None, polling.error

    drill = services.drill_start(agent=pilot, actor=operator_user, mode=DrillMode.LIVE, note="Q4 drill")
    polling.join(30)
    assert not polling.is_alive() and polling.error is None and polling.saw_off_at is not None

    drill = services.drill_finish(drill_id=drill.pk, actor=operator_user, justification="Drill over; agent healthy.")
    allowed = ActionRequest.objects.filter(agent=pilot, status="allowed").order_by("-created_at")
    # A request in flight when the switch was pulled is denied by the gate: not a side effect.
    assert 2 <= allowed.count() <= polling.sent == ActionRequest.objects.filter(agent=pilot).count()
    # Both times measured and recorded against the pull.
    assert drill.controls_off_seen_at is not None and drill.pulled_at <= drill.controls_off_seen_at
    assert drill.ms_to_controls_off == int((drill.controls_off_seen_at - drill.pulled_at).total_seconds() * 1000)
    assert drill.controls_off_seen_at <= polling.saw_off_at
    assert drill.last_side_effect_at == allowed.first().created_at
    expected = max(0, int((drill.last_side_effect_at - drill.pulled_at).total_seconds() * 1000))
    assert drill.ms_to_last_side_effect == expected
    # Restore under the two-person rule: a change request, side effects still off until it is applied.
    pilot.refresh_from_db()
    assert pilot.side_effects_enabled is False
    restore = ApprovalRequest.objects.get(pk=drill.restore_request_id)
    assert restore.kind == "reenable_side_effects" and restore.status == "pending"
    # The result is evidence for Art. 14 and MANAGE 2.4.
    evidence = EVIDENCE_QUERIES["kill_switch_drills"](pilot)
    assert evidence.count == 1 and f"{drill.ms_to_controls_off} ms" in evidence.records[0].label


@pytest.mark.django_db
def test_a_dry_run_tells_the_agent_through_its_controls_and_changes_nothing(agent, agent_client, operator_user):
    drill = services.drill_start(agent=agent, actor=operator_user, mode=DrillMode.DRY_RUN)
    agent.refresh_from_db()
    assert agent.side_effects_enabled is True
    body = agent_client.get("/api/v1/controls/").json()
    assert body["side_effects_enabled"] is True and body["drill"] == {
        "id": drill.pk,
        "mode": "dry_run",
        "side_effects_enabled": False,
    }
    drill.refresh_from_db()
    first_seen = drill.controls_off_seen_at
    assert first_seen is not None
    agent_client.get("/api/v1/controls/")
    drill.refresh_from_db()
    assert drill.controls_off_seen_at == first_seen  # the first poll counts
    drill = services.drill_finish(drill_id=drill.pk, actor=operator_user)
    assert drill.status == "finished" and drill.restore_request is None and drill.ms_to_last_side_effect == 0
    assert "drill" not in agent_client.get("/api/v1/controls/").json()


@pytest.mark.django_db
def test_drill_pages_refuse_bad_input_and_other_roles_and_change_nothing(client, agent, operator_user, auditor_user):
    client.force_login(auditor_user)
    assert client.get("/compliance/drills/").status_code == 200
    assert client.post("/compliance/drills/start/", {"agent": agent.slug, "mode": "dry_run"}).status_code == 403
    client.force_login(operator_user)
    # A live drill on a production agent, an unknown mode, an unknown agent: 400s, nothing started.
    for data in ({"agent": agent.slug, "mode": "live"}, {"agent": agent.slug, "mode": "boom"}, {"agent": "nope"}, {}):
        response = client.post("/compliance/drills/start/", data)
        assert response.status_code == 400, data
    assert not KillSwitchDrill.objects.exists()
    response = client.post("/compliance/drills/start/", {"agent": agent.slug, "mode": "dry_run"})
    assert response.status_code == 302
    drill = KillSwitchDrill.objects.get()
    assert client.post("/compliance/drills/start/", {"agent": agent.slug, "mode": "dry_run"}).status_code == 400
    assert client.get(f"/compliance/drills/{drill.pk}/").status_code == 200
    client.force_login(auditor_user)
    assert client.post(f"/compliance/drills/{drill.pk}/finish/").status_code == 403
    client.force_login(operator_user)
    assert client.post(f"/compliance/drills/{drill.pk}/finish/").status_code == 302
    assert client.post(f"/compliance/drills/{drill.pk}/finish/").status_code == 400
    assert client.get("/compliance/drills/999999/").status_code == 404
