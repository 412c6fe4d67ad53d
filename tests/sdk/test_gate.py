"""``gate()`` against a live Quorum: allowed, denied (a rule, the kill switch), approved after a
wait by two people, denied by a person, expired, timed out; as a context manager and as a
decorator; and the run summary it records into."""

from __future__ import annotations

import time

import pytest

from .conftest import decide_when_pending

pytestmark = pytest.mark.django_db(transaction=True)

STANDARD = {"customer_tier": "standard"}


def test_allowed_denied_decorated_recorded_waited_for_expired_and_the_kill_switch(
    sdk_client, agent, gate_ready, operator_user, live_server
):
    """One live-server test for all of gate() (each one more costs a database flush and re-seed):
    the kill switch comes last, as it stops everything after it."""
    from quorum_sdk import ActionDenied

    from actions.models import ActionRequest
    from incidents.services import kill_switch_pull
    from telemetry.models import Run

    done = []
    with sdk_client.run(version_label="1.0", model="gpt-4o", channel="chat", run_id="gate-run-1") as run:
        with sdk_client.gate("payments.refund", amount_usd=40, customer_tier="pro") as action:
            done.append(action["status"])
        with (
            pytest.raises(ActionDenied) as denied,
            sdk_client.gate("payments.refund", amount_usd=-5, customer_tier="pro"),
        ):
            done.append("must not run")
        run["outcome"] = "resolved"
    assert done == ["allowed"]
    assert denied.value.reason == "A refund amount must be positive."
    assert denied.value.source == "policy_rule" and denied.value.rule["number"] == 1
    # Each gate used a fresh idempotency key: two stored requests.
    assert ActionRequest.objects.filter(agent=agent).count() == 2
    assert run.summary["tools_used"] == ["payments.refund"]
    assert (run.summary["tool_calls"], run.summary["policy_blocks"]) == (1, 1)
    assert sdk_client.exporter().flush(10)
    stored = Run.objects.get(agent=agent, run_id="gate-run-1")
    assert (stored.tool_calls, stored.policy_blocks, stored.tools_used) == (1, 1, ["payments.refund"])

    @sdk_client.gate("payments.refund", customer_tier="pro")
    def refund(amount_usd, order_id="A-1"):
        return f"refunded {amount_usd} on {order_id}"

    assert refund(30) == "refunded 30 on A-1"
    assert ActionRequest.objects.filter(agent=agent, parameters__order_id="A-1", status="allowed").exists()

    _approved_after_a_wait_by_two_people_denied_by_one_expired_and_timed_out(sdk_client, agent, gate_ready)

    # The kill switch: Quorum denies every side-effecting action with its reason.
    kill_switch_pull(agent=agent, actor=operator_user, reason="refunds look wrong")
    with pytest.raises(ActionDenied) as killed:
        refund(10)
    assert (killed.value.reason, killed.value.source) == ("side effects disabled", "kill_switch")

    # The module-level gate() uses the configured (else the environment's) client.
    import quorum_sdk

    quorum_sdk.configure(sdk_client)
    with (
        pytest.raises(ActionDenied, match="side effects disabled"),
        quorum_sdk.gate("payments.refund", amount_usd=1, customer_tier="pro"),
    ):
        pytest.fail("ran under the kill switch")


def _approved_after_a_wait_by_two_people_denied_by_one_expired_and_timed_out(sdk_client, agent, gate_ready):
    from quorum_sdk import ActionDenied, ActionExpired, ActionTimeout

    from actions.models import ActionRequest

    support1, support2 = gate_ready
    # 120 USD for a standard customer: pending until two support managers approve.
    deciding = decide_when_pending(agent, [support1, support2])
    started = time.monotonic()
    gate = sdk_client.gate(
        "payments.refund", amount_usd=120, wait_timeout=20, poll_initial=0.1, poll_max=0.3, **STANDARD
    )
    with gate as action:
        assert action["status"] == "approved"
        assert action["approval"]["approvals"] == 2
    deciding.join(5)
    assert time.monotonic() - started >= 0.3  # it really waited for people
    assert (gate.decision, gate.executed) == ("approved", True)

    # One person denies: ActionDenied with the people's reason.
    deciding = decide_when_pending(agent, [support1], verdict="deny")
    with (
        pytest.raises(ActionDenied) as denied,
        sdk_client.gate("payments.refund", amount_usd=130, wait_timeout=20, poll_initial=0.1, **STANDARD),
    ):
        pytest.fail("a denied action ran")
    deciding.join(5)
    assert denied.value.source == "people"

    # Nobody decides before it expires on the server: ActionExpired.
    def expire_now():
        from django.utils import timezone

        from .conftest import in_thread

        def run():
            deadline = time.monotonic() + 20
            while not ActionRequest.objects.filter(agent=agent, status="pending").update(expires_at=timezone.now()):
                assert time.monotonic() < deadline
                time.sleep(0.05)

        return in_thread(run)

    expiring = expire_now()
    with (
        pytest.raises(ActionExpired) as expired,
        sdk_client.gate("payments.refund", amount_usd=140, wait_timeout=20, poll_initial=0.1, **STANDARD),
    ):
        pytest.fail("an expired action ran")
    expiring.join(5)
    assert not isinstance(expired.value, ActionTimeout)
    assert expired.value.action["status"] == "expired"

    # The gate's own timeout: still pending on the server, ActionTimeout (an ActionExpired).
    with (
        pytest.raises(ActionTimeout) as timed_out,
        sdk_client.gate("payments.refund", amount_usd=150, wait_timeout=0.3, poll_initial=0.1, **STANDARD),
    ):
        pytest.fail("an undecided action ran")
    assert timed_out.value.action["status"] == "pending"
    assert "still pending" in timed_out.value.reason
