"""Alert channels (registry.channels): each channel's request format checked by a local receiver the
way the real service checks it, retries of a failing receiver, one notification per alert however
often it is evaluated, resolution when the condition clears, and the preferences."""

from __future__ import annotations

import pytest
from django.core import mail

from registry import channels
from registry.channel_models import AlertChannel, AlertPreference, AlertRecord, Notification
from registry.channels import Alert
from registry.choices import NotificationStatus
from registry.webhook_signing import webhook_secret_new
from tests.factories import AgentFactory, TeamFactory, UserFactory
from tests.loopback_targets import loopback_outbound_allowed  # noqa: F401

from .channel_receivers import ServiceReceiver, pagerduty_check, slack_check, teams_check, webhook_check

ROUTING_KEY = "R0ut1ngK3yF0rTh3S3rv1c3000000001"  # 32 characters, like a PagerDuty integration key


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    """``registry.channels.notify`` whose deliveries, queued after commit, run in-process at once
    (their retries too: Celery runs an eager task's retry in place)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True

    def call(alert: Alert) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return channels.notify(alert)

    yield call
    app.conf.task_always_eager = previous


def _alert(agent=None, **kw) -> Alert:
    defaults = {
        "kind": "monitor",
        "dedup_key": "monitor:1",
        "title": "Error rate above 5 % for 10 minutes",
        "body": "error rate 7.2 % (alert at 5 %)",
        "severity": "critical",
        "agent": agent,
        "url": "/agents/x/",
    }
    return Alert(**{**defaults, **kw})


@pytest.mark.django_db
def test_each_channel_is_sent_the_format_its_service_checks(notify):
    """GIVEN a Slack, a Teams, a PagerDuty and a signed-webhook channel on local receivers that check
    requests like the real services, WHEN an alert is raised and later resolved, THEN every receiver
    accepts the trigger, and the resolution (PagerDuty: a resolve with the trigger's dedup key)."""
    agent = AgentFactory()
    secret = webhook_secret_new()
    with (
        ServiceReceiver(slack_check) as slack,
        ServiceReceiver(teams_check) as teams,
        ServiceReceiver(pagerduty_check(ROUTING_KEY)) as pd,
        ServiceReceiver(webhook_check(secret), raw=True) as hook,
    ):
        AlertChannel.objects.create(name="s", kind="slack", url=slack.base + "/services/T0/B0/x")
        AlertChannel.objects.create(name="t", kind="teams", url=teams.base + "/workflows/1")
        AlertChannel.objects.create(name="p", kind="pagerduty", url=pd.base + "/v2/enqueue", secret=ROUTING_KEY)
        AlertChannel.objects.create(name="w", kind="webhook", url=hook.base + "/hooks/quorum", secret=secret)
        assert notify(_alert(agent)) == 4
        assert notify(_alert(agent, resolved=True)) == 4
        for receiver in (slack, teams, pd, hook):
            assert [code for *_, code in receiver.calls] == [code for *_, code in receiver.calls if code < 300]
            assert len(receiver.accepted()) == 2, receiver.calls
    trigger, resolve = pd.accepted()
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == "monitor:1"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == agent.slug
    assert slack.accepted()[1]["text"].startswith("[Resolved]")
    assert [c[2]["type"] for c in hook.calls] == ["alert.triggered", "alert.resolved"]
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 8


@pytest.mark.django_db
def test_receivers_refuse_a_wrong_format(notify):
    """The receivers are real checks: a forged signature, a wrong routing key are refused (and a
    4xx is final: recorded as refused, not retried)."""
    with (
        ServiceReceiver(pagerduty_check(ROUTING_KEY)) as pd,
        ServiceReceiver(webhook_check(webhook_secret_new()), raw=True) as hook,
    ):
        AlertChannel.objects.create(name="p", kind="pagerduty", url=pd.base + "/v2/enqueue", secret="wrong" * 6 + "xx")
        AlertChannel.objects.create(name="w", kind="webhook", url=hook.base + "/h", secret=webhook_secret_new())
        notify(_alert())
    assert [c[-1] for c in pd.calls] == [400] and [c[-1] for c in hook.calls] == [401]
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.REFUSED}


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_until_it_answers(notify):
    """GIVEN a PagerDuty receiver answering 503 twice, WHEN an alert is raised, THEN the task retries
    (backoff; eager here) and the third call is accepted: three attempts, sent."""
    with ServiceReceiver(pagerduty_check(ROUTING_KEY), fail_first=2) as pd:
        AlertChannel.objects.create(name="p", kind="pagerduty", url=pd.base + "/v2/enqueue", secret=ROUTING_KEY)
        notify(_alert())
    assert [c[-1] for c in pd.calls] == [503, 503, 202]
    n = Notification.objects.get()
    assert (n.status, n.attempts) == (NotificationStatus.SENT, 3)


@pytest.mark.django_db
def test_one_alert_sends_one_notification_however_often_it_is_evaluated(notify):
    """Evaluating the same condition ten times sends once per channel; resolving twice sends one
    resolution; the condition coming back is a new alert and is sent again."""
    with ServiceReceiver(slack_check) as slack:
        AlertChannel.objects.create(name="s", kind="slack", url=slack.base + "/x")
        sent = [notify(_alert()) for _ in range(10)]
        assert sent == [1] + [0] * 9
        assert [notify(_alert(resolved=True)) for _ in range(2)] == [1, 0]
        assert notify(_alert()) == 1
    assert len(slack.accepted()) == 3
    assert AlertRecord.objects.filter(resolved_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_team_channels_kinds_severity_and_personal_email_preferences(notify):
    """A team's channel hears only its agents' alerts of its kinds and severity; a person who turned
    a kind off gets no e-mail of it, the others do (one message each)."""
    team, other = TeamFactory(), TeamFactory()
    agent = AgentFactory(owner_team=team)
    mine = AlertChannel.objects.create(name="mine", kind="email", team=team, emails="oncall@example.com")
    AlertChannel.objects.create(name="theirs", kind="email", team=other, emails="other@example.com")
    AlertChannel.objects.create(name="budget-only", kind="email", emails="fin@example.com", alert_kinds=["budget"])
    AlertChannel.objects.create(name="critical-only", kind="email", emails="cto@example.com", min_severity="critical")
    muted = UserFactory(email="muted@example.com")
    AlertPreference.objects.create(user=muted, kind="drift", email=False)
    notify(
        _alert(agent, kind="drift", dedup_key="drift:1", severity="warning", recipients=("muted@example.com", "a@x.io"))
    )
    assert sorted(m.to[0] for m in mail.outbox) == ["a@x.io", "oncall@example.com"]
    assert Notification.objects.filter(channel=mine).count() == 1


@pytest.mark.django_db
def test_an_internal_address_is_refused_by_the_outbound_guard(notify, settings):
    """A channel URL that points inside (saved around the form's validation) is never called."""
    settings.QUORUM_OUTBOUND_ALLOWED_HOSTS = []
    with ServiceReceiver(slack_check) as slack:
        AlertChannel.objects.create(name="s", kind="slack", url=slack.base + "/x")
        notify(_alert())
    assert slack.calls == []
    n = Notification.objects.get()
    assert n.status == NotificationStatus.REFUSED and "internal" in n.last_error


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_failing_receiver_with_backoff(celery_worker_process):
    """GIVEN a Slack receiver answering 503 twice, WHEN an alert is raised (committed, no eager mode)
    THEN the real worker's task retries with backoff until the third call is accepted."""
    import time

    from config.celery import app

    app.conf.task_always_eager = False
    with ServiceReceiver(slack_check, fail_first=2) as slack:
        AlertChannel.objects.create(name="s", kind="slack", url=slack.base + "/services/x")
        assert channels.notify(_alert()) == 1  # autocommit: queued at once
        deadline = time.monotonic() + 60
        while Notification.objects.get().status != NotificationStatus.SENT and time.monotonic() < deadline:
            time.sleep(0.2)
    n = Notification.objects.get()
    assert [c[-1] for c in slack.calls] == [503, 503, 200]
    assert (n.status, n.attempts) == (NotificationStatus.SENT, 3)
