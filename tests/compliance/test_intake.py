"""Intake: the playbook's scorecard, the go threshold, and becoming a proposed agent (issue 21, item 1)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from compliance import intake as rules
from compliance.choices import IntakeStatus
from compliance.models import Intake
from registry.choices import AgentStatus
from registry.forms import AgentForm
from registry.models import Agent

pytestmark = pytest.mark.django_db

INTAKE_POST = {
    "title": "Tier-1 returns support",
    "problem": "Customers wait a day for answers about returns.",
    "unit_of_work": "return resolved",
    "daily_volume": "1200",
    "data_involved": "Order history, return policy",
    "systems_touched": "Order system (read), returns API (create return)",
    "human_baseline": "8 minutes per return, 3% error",
    "human_minutes_per_unit": "8",
    "kpi_name": "resolution without escalation",
    "scope_answer": "Answer return-policy questions and open eligible returns.",
    "volume_answer": "1,000-10,000 a day.",
    "failure_answer": "A wrong return is refundable and reviewed.",
    "data_answer": "Policy documented; orders through the API.",
    "metric_answer": "Resolution rate without escalation.",
}

# The playbook's worked example: a tier-1 customer-support agent (returns, status, FAQ), the first
# of its "common high-scoring first agents": one task (5), 1,000-10,000 a day (5), refundable
# errors (4), policy documented (4), one resolution rate (5) = 23, a strong candidate (>= 20).
WORKED_EXAMPLE = {"score_scope": 5, "score_volume": 5, "score_failure": 4, "score_data": 4, "score_metric": 5}
# Its counter-example, "be a general-purpose assistant for the marketing team": broad (1), a few a
# day (2), errors reach customers (3), knowledge in heads (2), subjective success (1) = 9, skip.
BROAD_EXAMPLE = {"score_scope": 1, "score_volume": 2, "score_failure": 3, "score_data": 2, "score_metric": 1}


def _intake(proposer, **overrides) -> Intake:
    fields = {k: v for k, v in INTAKE_POST.items()}
    fields["daily_volume"] = int(fields["daily_volume"])
    fields.update(overrides)
    return Intake.objects.create(proposer=proposer, **fields)


def _agent_form(intake, team, **overrides):
    data = {**rules.intake_agent_initial(intake), "owner_team": team.pk, "data_classification": "internal"}
    data.update(overrides)
    data.update(
        success_threshold_pct="92",
        escalation_threshold_pct="8",
        monthly_budget_usd="1000",
        human_cost_per_minute_usd="0.75",
        monthly_infra_cost_usd="0",
        monthly_ops_cost_usd="0",
        risk_tier="2",
    )
    form = AgentForm(data)
    assert form.is_valid(), form.errors
    return form


def test_it_scores_the_playbooks_worked_example_as_a_go(owner_user, board_user):
    intake = _intake(owner_user)
    intake = rules.intake_score(intake_id=intake.pk, scorer=board_user, scores={**WORKED_EXAMPLE, "bonus_value": 2})
    assert intake.core_total == 23
    assert intake.bonus_total == 2
    assert rules.intake_verdict(intake.core_total) == "go"
    assert rules.intake_may_convert(intake) is None


def test_it_scores_the_broad_counter_example_as_a_skip_and_borderline_between(owner_user, board_user):
    intake = rules.intake_score(intake_id=_intake(owner_user).pk, scorer=board_user, scores=BROAD_EXAMPLE)
    assert intake.core_total == 9 and rules.intake_verdict(9) == "skip"
    assert [rules.intake_verdict(t) for t in (15, 16, 19, 20, 25, None)] == [
        "skip",
        "borderline",
        "borderline",
        "go",
        "go",
        "unscored",
    ]


def test_bonus_points_never_lift_an_intake_over_the_threshold(owner_user, board_user, team):
    # 19 on the five dimensions, +9 bonus: still below the go threshold.
    scores = {**WORKED_EXAMPLE, "score_scope": 1, "bonus_disliked": 3, "bonus_value": 3, "bonus_sponsor": 3}
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=scores)
    assert intake.core_total == 19
    assert "19 of 25" in rules.intake_may_convert(intake)


def test_a_below_threshold_intake_cannot_become_an_agent(owner_user, board_user, team):
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=BROAD_EXAMPLE)
    with pytest.raises(rules.IntakeRefused, match="only at 20 or more"):
        rules.intake_convert(intake_id=intake.pk, agent_form=_agent_form(intake, team), user=owner_user)
    assert not Agent.objects.filter(slug="tier-1-returns-support").exists()
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SCORED and intake.agent is None


def test_the_database_refuses_a_converted_intake_below_threshold(owner_user, board_user, agent):
    intake = rules.intake_score(intake_id=_intake(owner_user).pk, scorer=board_user, scores=BROAD_EXAMPLE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Intake.objects.filter(pk=intake.pk).update(status=IntakeStatus.CONVERTED, agent=agent)


def test_an_unscored_intake_cannot_become_an_agent(owner_user, team):
    intake = _intake(owner_user, team=team)
    with pytest.raises(rules.IntakeRefused, match="not scored"):
        rules.intake_convert(intake_id=intake.pk, agent_form=_agent_form(intake, team), user=owner_user)


def test_a_go_intake_becomes_a_proposed_agent_prefilled_once(owner_user, board_user, team):
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=WORKED_EXAMPLE)
    agent = rules.intake_convert(intake_id=intake.pk, agent_form=_agent_form(intake, team), user=owner_user)
    assert agent.status == AgentStatus.PROPOSED
    assert (agent.name, agent.unit_of_work, agent.owner) == ("Tier-1 returns support", "return resolved", owner_user)
    assert owner_user.has_perm("registry.change_agent", agent)  # the registry's own service ran
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.CONVERTED and intake.agent == agent
    with pytest.raises(rules.IntakeRefused, match="already"):
        rules.intake_convert(intake_id=intake.pk, agent_form=_agent_form(intake, team, slug="again"), user=owner_user)
    assert not Agent.objects.filter(slug="again").exists()


def test_only_the_board_scores_and_never_its_own_intake(owner_user, board_user, approver_user):
    intake = _intake(owner_user)
    with pytest.raises(PermissionDenied):
        rules.intake_score(intake_id=intake.pk, scorer=approver_user, scores=WORKED_EXAMPLE)
    own = _intake(board_user)
    with pytest.raises(rules.IntakeRefused, match="another board member"):
        rules.intake_score(intake_id=own.pk, scorer=board_user, scores=WORKED_EXAMPLE)


@pytest.mark.parametrize("bad", [0, 6, -1, "5", None, True])
def test_a_bad_score_changes_nothing(owner_user, board_user, bad):
    intake = _intake(owner_user)
    with pytest.raises(ValidationError):
        rules.intake_score(intake_id=intake.pk, scorer=board_user, scores={**WORKED_EXAMPLE, "score_data": bad})
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED and intake.score_data is None


# --- pages ----------------------------------------------------------------------------------------


def test_anyone_signed_in_proposes_through_the_form_with_the_playbooks_guidance(client, outsider_user):
    client.force_login(outsider_user)
    page = client.get(reverse("compliance:intake_create"))
    assert page.status_code == 200
    assert "5 = one specific task, well-defined inputs and outputs" in page.content.decode()
    response = client.post(reverse("compliance:intake_create"), INTAKE_POST)
    intake = Intake.objects.get()
    assert response.status_code == 302 and response.url == intake.get_absolute_url()
    assert intake.proposer == outsider_user and intake.status == IntakeStatus.SUBMITTED


def test_bad_intake_input_is_a_clear_400_and_saves_nothing(client, outsider_user):
    client.force_login(outsider_user)
    response = client.post(reverse("compliance:intake_create"), {**INTAKE_POST, "daily_volume": "-3", "title": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="daily_volume"' in body and 'data-field="title"' in body
    assert not Intake.objects.exists()


def test_board_scores_on_the_page_and_a_bad_score_is_a_400(client, owner_user, board_user):
    intake = _intake(owner_user)
    client.force_login(board_user)
    url = reverse("compliance:intake_score", args=[intake.pk])
    bad = client.post(url, {**WORKED_EXAMPLE, "score_data": "9"})
    assert bad.status_code == 400 and 'data-field="score_data"' in bad.content.decode()
    assert client.post(url, WORKED_EXAMPLE).status_code == 302
    page = client.get(intake.get_absolute_url()).content.decode()
    assert "23 / 25 — go" in page


def test_non_board_cannot_score_on_the_page(client, owner_user, approver_user):
    intake = _intake(owner_user)
    client.force_login(approver_user)
    assert client.post(reverse("compliance:intake_score", args=[intake.pk]), WORKED_EXAMPLE).status_code == 403


def test_converting_below_threshold_on_the_page_is_refused(client, owner_user, board_user, team):
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=BROAD_EXAMPLE)
    client.force_login(owner_user)
    response = client.get(reverse("compliance:intake_convert", args=[intake.pk]))
    assert response.status_code == 409 and "only at 20 or more" in response.content.decode()


def test_converting_a_go_intake_on_the_page_prefills_the_registry_form(client, owner_user, board_user, team):
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=WORKED_EXAMPLE)
    client.force_login(owner_user)
    page = client.get(reverse("compliance:intake_convert", args=[intake.pk]))
    assert page.status_code == 200 and 'value="tier-1-returns-support"' in page.content.decode()


def test_the_home_page_shows_the_intake_funnel(client, owner_user, board_user):
    rules.intake_score(intake_id=_intake(owner_user).pk, scorer=board_user, scores=WORKED_EXAMPLE)
    rules.intake_score(intake_id=_intake(owner_user).pk, scorer=board_user, scores=BROAD_EXAMPLE)
    _intake(owner_user)
    funnel = rules.intake_funnel()
    assert (funnel["proposed"], funnel["awaiting"], funnel["scored"], funnel["go"], funnel["below"]) == (3, 1, 2, 1, 1)
    client.force_login(owner_user)
    assert 'data-testid="home-intake"' in client.get(reverse("home")).content.decode()


def test_a_bad_agent_form_on_conversion_is_a_400_and_registers_nothing(client, owner_user, board_user, team):
    intake = rules.intake_score(intake_id=_intake(owner_user, team=team).pk, scorer=board_user, scores=WORKED_EXAMPLE)
    client.force_login(owner_user)
    response = client.post(reverse("compliance:intake_convert", args=[intake.pk]), {"slug": "Not a slug!", "name": ""})
    assert response.status_code == 400 and 'data-field="slug"' in response.content.decode()
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SCORED and not Agent.objects.exists()


def test_the_proposer_withdraws_and_no_one_else_can(client, owner_user, other_owner_user, board_user):
    intake = _intake(owner_user)
    with pytest.raises(PermissionDenied):
        rules.intake_withdraw(intake_id=intake.pk, user=other_owner_user)
    client.force_login(owner_user)
    assert client.post(reverse("compliance:intake_withdraw", args=[intake.pk])).status_code == 302
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.WITHDRAWN
    with pytest.raises(rules.IntakeRefused):
        rules.intake_score(intake_id=intake.pk, scorer=board_user, scores=WORKED_EXAMPLE)
    assert client.post(reverse("compliance:intake_withdraw", args=[intake.pk])).status_code == 409
