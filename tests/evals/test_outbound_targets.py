"""Issue 14 item 1 for evals: an eval target on an internal address is refused when saved (form,
admin validation, service) and when a run calls it; the LLM judge goes through the same guard.
The fake agent on 127.0.0.1 receives nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from evals import services
from evals.models import EvalTarget
from evals.scorers import JudgeUnavailable, make_http_judge
from registry.outbound import guarded_client
from tests.registry.test_outbound import REFUSED, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def guard_on(settings):
    """Undo the loopback allowance the other tests of this app need."""
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = []


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_the_owner_cannot_save_a_target_on_an_internal_address(guard_on, client, agent, owner_user, host, reason):
    client.force_login(owner_user)
    response = client.post(
        f"/evals/agents/{agent.slug}/target/",
        {
            "endpoint_url": f"http://{host}/eval",
            "timeout_seconds": "5",
            "max_concurrency": "2",
            "max_retries": "1",
            "backoff_seconds": "1",
        },
    )
    assert response.status_code == 400 and reason in response.text
    assert not EvalTarget.objects.exists()


def test_the_service_refuses_it_too(guard_on, agent):
    with pytest.raises(ValidationError) as refused:
        services.evaltarget_save(agent=agent, endpoint_url="http://localhost:6379/", secret="s")
    assert "localhost resolves to" in str(refused.value.message_dict["endpoint_url"])


def test_a_run_against_a_stored_internal_target_calls_nothing(guard_on, eval_setup, fake_agent):
    run, _ = services.evalrun_request(
        version=eval_setup["version"], set_version=eval_setup["set_version"], enqueue=False
    )
    services.evalrun_execute(run_id=run.pk, task_id="t")
    run.refresh_from_db()
    assert run.results.count() == 6 and not run.results.filter(passed=True).exists()
    assert all("loopback" in r.error for r in run.results.all())
    assert fake_agent.calls == []


def test_the_judge_is_refused_on_an_internal_address(guard_on, settings):
    server = Server(body=b'{"choices": [{"message": {"content": "{\\"pass\\": true}"}}]}')
    settings.QUORUM_EVAL_JUDGE = {"url": f"http://127.0.0.1:{server.port}/v1", "model": "judge-1"}
    try:
        with guarded_client(timeout=2) as client:
            judge = make_http_judge(client)
            with pytest.raises(JudgeUnavailable, match="loopback"):
                judge({"q": 1}, "answer", "be right")
            settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # an operator's internal judge
            assert judge({"q": 1}, "answer", "be right").passed is True
    finally:
        server.close()
    assert server.hits == 1
