"""Evals pages and actions: who may read, who may change, and that a refused change changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.utils import timezone
from guardian.shortcuts import assign_perm

from evals import services
from evals.choices import AlertStatus, DriftAction, DriftMetric
from evals.models import (
    CaseResult,
    DriftAlert,
    DriftPolicy,
    EvalRun,
    EvalTarget,
    GoldenCase,
    GoldenSet,
    GoldenSetVersion,
    HumanRating,
    Judge,
)
from tests.factories import AgentFactory, AgentVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(agent, owner_user):
    """Golden set "Core": v1 frozen by a CI run (one case judged), v2 editable; a target; an open alert."""
    agent.success_threshold_pct = Decimal("60")
    agent.save()
    version = AgentVersionFactory(agent=agent, label="2.0")
    golden_set = services.goldenset_create(agent=agent, name="Core", user=owner_user)
    v1 = golden_set.versions.get()
    for key in ("a", "b", "c"):
        services.case_save(set_version_id=v1.pk, key=key, input={"q": key}, scorer="exact", expected=key)
    run, _ = services.evalrun_record_ci(
        version=version,
        set_version=v1,
        results=[{"case": k, "passed": k != "c"} for k in ("a", "b", "c")],
        idempotency_key="build-1",
        user=owner_user,
    )
    judge = Judge.objects.create(name="judge v1", model="gpt-judge")
    judged = run.results.get(case_key="a")
    CaseResult.objects.filter(pk=judged.pk).update(judge=judge, scorer="llm_judge")
    v2 = services.setversion_create_next(golden_set=golden_set, user=owner_user)
    EvalTarget.objects.create(agent=agent, endpoint_url="http://127.0.0.1:9/eval", secret="s3cret")
    policy = services.driftpolicy_for(agent)
    now = timezone.now()
    alert = DriftAlert.objects.create(
        agent=agent,
        metric=DriftMetric.CONTAINMENT,
        summary="Containment dropped 15 points",
        evidence={"windows": {}},
        detected_at=now,
        last_seen_at=now,
    )
    return {
        "agent": agent,
        "version": version,
        "golden_set": golden_set,
        "v1": v1,
        "v2": v2,
        "case": v2.cases.get(key="a"),
        "run": run,
        "judge": judge,
        "judged": judged,
        "alert": alert,
        "policy": policy,
    }


def read_urls(w) -> list[str]:
    return [
        f"/evals/agents/{w['agent'].slug}/",
        f"/evals/set-versions/{w['v1'].pk}/",
        f"/evals/set-versions/{w['v1'].pk}/export.jsonl",
        f"/evals/runs/{w['run'].pk}/",
        f"/evals/drift/{w['alert'].pk}/",
    ]


def write_actions(w) -> list[tuple[str, str, dict]]:
    """Every edit page and action on the world's objects: (method, url, data)."""
    slug, v2, case = w["agent"].slug, w["v2"], w["case"]
    target = {
        "endpoint_url": "http://evil.example/",
        "timeout_seconds": "5",
        "max_concurrency": "2",
        "max_retries": "1",
        "backoff_seconds": "1",
    }
    return [
        ("get", f"/evals/agents/{slug}/target/", {}),
        ("get", f"/evals/agents/{slug}/drift-policy/", {}),
        ("get", f"/evals/cases/{case.pk}/", {}),
        ("post", f"/evals/agents/{slug}/", {"name": "Sneaky"}),
        ("post", f"/evals/agents/{slug}/target/", target),
        ("post", f"/evals/agents/{slug}/drift-policy/", policy_data(action="kill_switch")),
        (
            "post",
            f"/evals/set-versions/{v2.pk}/",
            {"key": "z", "input": '{"q": 1}', "scorer": "exact", "expected": '"z"'},
        ),
        ("post", f"/evals/set-versions/{v2.pk}/import/", {"text": '{"key": "y", "input": {"q": 2}, "expected": "y"}'}),
        ("post", f"/evals/cases/{case.pk}/", {"key": "a2", "input": '{"q": 3}', "scorer": "exact", "expected": '"a"'}),
        ("post", f"/evals/cases/{case.pk}/", {"delete": "1"}),
        ("post", f"/evals/set-versions/{v2.pk}/new-version/", {}),
        ("post", f"/evals/set-versions/{v2.pk}/freeze/", {}),
        ("post", f"/evals/agents/{slug}/runs/new/", {"version": w["version"].pk, "set_version": v2.pk}),
    ]


def snapshot(w) -> tuple:
    """Everything a refused write could have touched."""
    policy = DriftPolicy.objects.get(agent=w["agent"])
    return (
        GoldenSet.objects.count(),
        list(GoldenSetVersion.objects.values_list("pk", "frozen_at")),
        list(GoldenCase.objects.order_by("pk").values_list("pk", "key", "expected")),
        EvalRun.objects.count(),
        CaseResult.objects.count(),
        HumanRating.objects.count(),
        list(DriftAlert.objects.values_list("pk", "status")),
        EvalTarget.objects.get(agent=w["agent"]).endpoint_url,
        (policy.action, policy.containment_drop_points, policy.containment_window_minutes, policy.updated_at),
        LogEntry.objects.count(),
    )


def call(client, method, url, data):
    return client.get(url) if method == "get" else client.post(url, data)


# --- anonymous ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login_and_change_nothing(client, world):
    before = snapshot(world)
    urls = ["/evals/", "/evals/drift/", f"/evals/judges/{world['judge'].pk}/", *read_urls(world)]
    actions = [("get", u, {}) for u in urls] + write_actions(world)
    actions += [
        ("post", f"/evals/results/{world['judged'].pk}/rate/", {"human_passed": "1"}),
        ("post", f"/evals/drift/{world['alert'].pk}/", {"status": "resolved"}),
    ]
    for method, url, data in actions:
        response = call(client, method, url, data)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), (method, url)
    assert snapshot(world) == before


# --- read-only roles ----------------------------------------------------------------------------------


READ_ONLY = ["executive_user", "auditor_user", "approver_user", "operator_user", "other_owner_user"]


@pytest.mark.parametrize("role", READ_ONLY)
def test_read_only_roles_read_every_page_and_every_edit_is_403_changing_nothing(client, world, request, role):
    client.force_login(request.getfixturevalue(role))
    for url in ["/evals/", "/evals/drift/", f"/evals/judges/{world['judge'].pk}/", *read_urls(world)]:
        assert client.get(url).status_code == 200, url
    page = client.get(f"/evals/agents/{world['agent'].slug}/").content.decode()
    assert 'data-testid="edit-drift-policy"' not in page and "Configure target" not in page
    before = snapshot(world)
    for method, url, data in write_actions(world):
        assert call(client, method, url, data).status_code == 403, (method, url)
    assert snapshot(world) == before


@pytest.mark.parametrize("editor", ["owner_user", "board_user"])
def test_owners_and_the_board_may_do_every_one_of_those_edits(client, world, request, editor):
    """The refusals above are about who asks, not about the input: the same requests succeed here."""
    client.force_login(request.getfixturevalue(editor))
    for method, url, data in write_actions(world):
        response = call(client, method, url, data)
        assert response.status_code in (200, 302), (method, url, response.status_code)
    assert GoldenSet.objects.filter(name="Sneaky").exists()
    assert EvalTarget.objects.get(agent=world["agent"]).endpoint_url == "http://evil.example/"
    assert DriftPolicy.objects.get(agent=world["agent"]).action == DriftAction.KILL_SWITCH
    assert sorted(world["v2"].cases.values_list("key", flat=True)) == ["b", "c", "y", "z"]
    assert world["golden_set"].versions.count() == 3 and EvalRun.objects.filter(set_version=world["v2"]).exists()


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "operator_user"])
def test_executives_auditors_and_operators_may_not_rate_judged_cases(client, world, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.post(f"/evals/results/{world['judged'].pk}/rate/", {"human_passed": "0"})
    assert response.status_code == 403 and HumanRating.objects.count() == 0
    page = client.get(f"/evals/runs/{world['run'].pk}/").content.decode()
    assert f"/evals/results/{world['judged'].pk}/rate/" not in page


def test_an_approver_rates_a_judged_case(client, world, approver_user):
    client.force_login(approver_user)
    response = client.post(f"/evals/results/{world['judged'].pk}/rate/", {"human_passed": "0", "note": "Wrong."})
    assert response.status_code == 302
    assert HumanRating.objects.get().rater == approver_user


@pytest.mark.parametrize("role", ["executive_user", "auditor_user", "approver_user", "other_owner_user"])
def test_only_operators_and_owners_act_on_drift_alerts(client, world, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.post(f"/evals/drift/{world['alert'].pk}/", {"status": "resolved"}).status_code == 403
    world["alert"].refresh_from_db()
    assert world["alert"].status == AlertStatus.OPEN


def test_an_operator_acknowledges_a_drift_alert(client, world, operator_user):
    client.force_login(operator_user)
    assert client.post(f"/evals/drift/{world['alert'].pk}/", {"status": "acknowledged"}).status_code == 302
    world["alert"].refresh_from_db()
    assert world["alert"].status == AlertStatus.ACKNOWLEDGED


# --- objects out of reach: 404 -------------------------------------------------------------------------


@pytest.fixture
def other_agent_viewer(db):
    """No role; may see one other agent only (an object permission), not the world's agent."""
    other = AgentFactory(slug="billing-bot", name="Billing Bot")
    user = UserFactory(username="contractor")
    assign_perm("registry.view_agent", user, other)
    return user


@pytest.mark.parametrize("who", ["outsider_user", "other_agent_viewer"])
def test_objects_of_agents_a_user_cannot_see_are_404_and_lists_leave_them_out(client, world, request, who):
    client.force_login(request.getfixturevalue(who))
    before = snapshot(world)
    actions = [("get", u, {}) for u in read_urls(world)] + write_actions(world)
    actions += [
        ("get", f"/evals/sets/{world['golden_set'].pk}/", {}),
        ("post", f"/evals/results/{world['judged'].pk}/rate/", {"human_passed": "1"}),
        ("post", f"/evals/drift/{world['alert'].pk}/", {"status": "resolved"}),
    ]
    for method, url, data in actions:
        assert call(client, method, url, data).status_code == 404, (method, url)
    assert snapshot(world) == before
    for url in ("/evals/", "/evals/drift/?status=all", f"/evals/judges/{world['judge'].pk}/"):
        page = client.get(url).content.decode()
        assert "Support Triage" not in page and "Containment dropped" not in page, url


# --- owners and the board -------------------------------------------------------------------------------


@pytest.mark.parametrize("editor", ["owner_user", "board_user"])
def test_owners_and_the_board_edit_the_drift_policy(client, world, request, editor):
    client.force_login(request.getfixturevalue(editor))
    page = client.get(f"/evals/agents/{world['agent'].slug}/").content.decode()
    assert 'data-testid="edit-drift-policy"' in page
    form = client.get(f"/evals/agents/{world['agent'].slug}/drift-policy/")
    assert form.status_code == 200 and 'data-testid="drift-policy-form"' in form.content.decode()
    response = client.post(f"/evals/agents/{world['agent'].slug}/drift-policy/", policy_data(action="canary_rollback"))
    assert response.status_code == 302
    policy = DriftPolicy.objects.get(agent=world["agent"])
    assert policy.action == DriftAction.CANARY_ROLLBACK and policy.containment_drop_points == Decimal("8")
    assert policy.enabled is True and policy.min_samples == 40
    page = client.get(f"/evals/agents/{world['agent'].slug}/").content.decode()
    assert "Roll back the canary" in page
    entry = LogEntry.objects.get_for_object(policy).filter(action=LogEntry.Action.UPDATE).first()
    assert entry is not None and entry.actor == request.getfixturevalue(editor)


def policy_data(**overrides) -> dict:
    data = {
        "enabled": "on",
        "action": "none",
        "containment_window_minutes": "30",
        "containment_drop_points": "8",
        "error_window_minutes": "10",
        "error_rise_points": "5",
        "escalation_rise_points": "10",
        "cost_rise_pct": "50",
        "latency_rise_pct": "50",
        "outcome_mix_psi": "0.25",
        "baseline_hours": "24",
        "min_samples": "40",
        "significance": "0.001",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


BAD_POLICY = [
    ({"containment_drop_points": "0"}, "containment_drop_points"),
    ({"containment_drop_points": "-5"}, "containment_drop_points"),
    ({"containment_drop_points": "150"}, "containment_drop_points"),
    ({"error_rise_points": "lots"}, "error_rise_points"),
    ({"min_samples": "5"}, "min_samples"),
    ({"significance": "0.5"}, "significance"),
    ({"significance": "0"}, "significance"),
    ({"action": "nuke"}, "action"),
    ({"containment_window_minutes": "2"}, "containment_window_minutes"),
    ({"baseline_hours": "1", "containment_window_minutes": "120"}, "containment_window_minutes"),
    ({"baseline_hours": "0"}, "baseline_hours"),
    ({"outcome_mix_psi": "0"}, "outcome_mix_psi"),
    ({"cost_rise_pct": ""}, "cost_rise_pct"),
]


@pytest.mark.parametrize(("change", "field"), BAD_POLICY, ids=[f for _, f in BAD_POLICY])
def test_bad_drift_policy_values_are_field_errors_and_nothing_is_saved(client, agent, owner_user, change, field):
    client.force_login(owner_user)
    services.driftpolicy_for(agent)
    before = (list(DriftPolicy.objects.values()), LogEntry.objects.count())
    response = client.post(f"/evals/agents/{agent.slug}/drift-policy/", policy_data(**change))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    page = response.content.decode()
    assert f'data-testid="error-{field}"' in page and "Nothing was saved" in page
    # what was typed is shown back, so nothing has to be typed again
    assert 'name="latency_rise_pct" value="50"' in page
    assert (list(DriftPolicy.objects.values()), LogEntry.objects.count()) == before


def test_the_owner_creates_a_golden_set_and_a_duplicate_name_is_a_field_error(client, world, owner_user):
    client.force_login(owner_user)
    assert client.post(f"/evals/agents/{world['agent'].slug}/", {"name": "Refunds"}).status_code == 302
    response = client.post(f"/evals/agents/{world['agent'].slug}/", {"name": "Core"})
    assert response.status_code == 400 and "already has a golden set" in response.content.decode()
    assert sorted(GoldenSet.objects.values_list("name", flat=True)) == ["Core", "Refunds"]


def test_a_frozen_version_refuses_case_edits(client, world, owner_user):
    client.force_login(owner_user)
    frozen_case = world["v1"].cases.get(key="a")
    response = client.post(
        f"/evals/cases/{frozen_case.pk}/", {"key": "a", "input": '{"q": 1}', "scorer": "exact", "expected": '"new"'}
    )
    assert response.status_code == 400 and "frozen" in response.content.decode()
    frozen_case.refresh_from_db()
    assert frozen_case.expected == "a"


# --- query counts on list pages -------------------------------------------------------------------------


@pytest.fixture
def crowd(world, owner_user):
    """Ten more runs, alerts and golden sets, so a per-row query would show."""
    now = timezone.now()
    for n in range(10):
        version = AgentVersionFactory(agent=world["agent"], label=f"3.{n}")
        services.evalrun_record_ci(
            version=version,
            set_version=world["v1"],
            results=[{"case": k, "passed": True} for k in ("a", "b", "c")],
            idempotency_key=f"crowd-{n}",
            user=owner_user,
        )
        other = AgentFactory(slug=f"crowd-{n}", name=f"Crowd {n}")
        DriftAlert.objects.create(
            agent=other, metric=DriftMetric.ERROR_RATE, summary="e", evidence={}, detected_at=now, last_seen_at=now
        )
        services.goldenset_create(agent=world["agent"], name=f"Set {n}")
    return world


def test_list_pages_have_a_bounded_number_of_queries(client, crowd, board_user, django_assert_max_num_queries):
    """Ten more runs, alerts and golden sets than the plain world: each page stays under a fixed bound."""
    client.force_login(board_user)
    pages = [
        ("/evals/", 20),
        ("/evals/drift/?status=all", 12),
        (f"/evals/agents/{crowd['agent'].slug}/", 24),
        (f"/evals/runs/{crowd['run'].pk}/", 17),  # +1 since OTLP discovery: the board's nav badge count
        (f"/evals/set-versions/{crowd['v1'].pk}/", 16),
        (f"/evals/judges/{crowd['judge'].pk}/", 14),
    ]
    for url, limit in pages:
        client.get(url)  # warm the session and the content types
        with django_assert_max_num_queries(limit):
            response = client.get(url)
        assert response.status_code == 200, url
