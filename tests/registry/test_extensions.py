"""The typed extension points (registry/extensions.py) and how the apps fill them."""

from __future__ import annotations

import pytest

from approvals.extensions import apply_gates, request_created_hooks
from incidents.extensions import incident_sections
from registry.extensions import (
    ExtensionPoint,
    agent_card_sections,
    before_automatic_change,
    demo_seeders,
    home_panels,
    nav_items,
)
from reports.extensions import evidence_pack_files
from telemetry.extensions import controls_extras


def _names(point) -> list[str]:
    return [f"{item.__module__}.{item.__name__}" for item in point]


def test_it_iterates_by_order_then_by_registration():
    point: ExtensionPoint[str] = ExtensionPoint("test")
    point.register("late", order=20)
    point.register("first", order=10)
    point.register("second", order=10)
    assert list(point) == ["first", "second", "late"]


def test_registering_the_same_item_again_does_not_count_it_twice():
    point: ExtensionPoint[str] = ExtensionPoint("test")
    point.register("a", order=10)
    point.register("b", order=20)
    point.register("a", order=30)  # ready() running again must not duplicate a panel or a gate
    assert list(point) == ["b", "a"]
    assert len(point) == 2


def test_override_swaps_the_contents_for_the_block_only():
    point: ExtensionPoint[str] = ExtensionPoint("test")
    point.register("real", order=10)
    with point.override("stand-in", "other"):
        assert list(point) == ["stand-in", "other"]
    assert list(point) == ["real"]
    with pytest.raises(RuntimeError), point.override():
        assert list(point) == []
        raise RuntimeError
    assert list(point) == ["real"]


@pytest.mark.compliance_gates
def test_the_apps_fill_every_extension_point_in_a_fixed_order():
    """GIVEN the installed apps WHEN Django has started THEN every extension point holds what the
    apps registered from their ready(), in the order the pages and rules had with settings lists."""
    assert _names(home_panels) == [
        "approvals.break_glass.break_glass_home_panel",  # unconfirmed break-glass changes come first
        "registry.panels.registry_home_panel",
        "registry.lifecycle.orphaned_home_panel",
        "telemetry.panels.home_panel",
        "telemetry.panels.discovery_panel",
        "approvals.panels.awaiting_home_panel",
        "evals.panels.evals_home_panel",
        "rollouts.panels.home_panel",
        "monitors.panels.home_panel",
        "compliance.serious_panels.serious_home_panel",
        "incidents.panels.home_panel",
        "reports.panels.reports_home_panel",
        "compliance.intake_panels.intake_home_panel",
    ]
    assert _names(agent_card_sections) == [
        "registry.lifecycle.orphaned_card_section",
        "telemetry.panels.agent_card_section",
        "approvals.panels.agent_card_section",
        "actions.panels.agent_card_section",
        "evals.panels.evals_agent_section",
        "rollouts.panels.agent_card_section",
        "monitors.panels.agent_card_section",
        "incidents.panels.agent_card_section",
        "reports.panels.reports_agent_section",
        "trail.panels.agent_card_section",
        "compliance.documents_panels.documents_agent_section",
        "reports.panels.evidence_agent_section",
    ]
    assert [f.__name__ for f in demo_seeders] == [
        "seed_telemetry",
        "seed_approvals",
        "seed_actions",
        "seed_evals",
        "seed_rollouts",
        "seed_incidents",
        "seed_reports",
        "seed_monitors",
        "seed_intake_documents",
        "seed_evidence_demo",
    ]
    assert [f.__name__ for f in apply_gates] == ["apply_gate_eval", "learning_gate", "documentation_gate", "fria_gate"]
    assert [f.__name__ for f in request_created_hooks] == ["request_created_eval_hook"]
    assert [f.__name__ for f in controls_extras] == ["controls_extra", "budget_controls_extra", "drill_controls_extra"]
    assert [f.__name__ for f in before_automatic_change] == ["evidence_freeze_before_change"]
    assert [f.__name__ for f in incident_sections] == ["serious_incident_section"]
    assert [f.__name__ for f in evidence_pack_files] == ["evidence_pack_mapping"]
    assert [(i.label, i.url_name) for i in nav_items] == [
        ("Home", "home"),
        ("Agents", "registry:agent_list"),
        ("API tokens", "telemetry:user_tokens"),
        ("Approvals", "approvals:queue"),
        ("Actions", "actions:index"),
        ("Incidents", "incidents:incident_list"),
        ("Rollouts", "rollouts:index"),
        ("Drills", "compliance:drill_list"),
        ("Evals", "evals:index"),
        ("Monitors", "monitors:index"),
        ("Reports", "reports:portfolio"),
        ("Discovery", "telemetry:discovery_list"),
        ("Audit", "trail:explorer"),
        ("Frameworks", "compliance:mapping"),
        ("Intake", "compliance:intake_list"),
    ]
