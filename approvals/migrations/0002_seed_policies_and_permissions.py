"""Data migration: default approval policies per tier, and approval permissions for the roles.

Defaults (DESIGN.md "approvals"): tier 3 one approver who is not the requester; tier 2 the
two-person rule; tier 1 the two-person rule with at least one governance-board member from
outside the owning team (executive sign-off is a tier-1 checklist item). Re-enabling side
effects needs two approvers at every tier (also enforced in code as the kind's floor)."""

from django.db import migrations

APPROVER = "Approver"
BOARD = "Governance board"

POLICIES = [
    # kind, tier, required, roles, board outside team, note
    ("", 3, 1, [APPROVER, BOARD], False, "One approver who is not the requester."),
    ("", 2, 2, [APPROVER, BOARD], False, "Two-person rule: two distinct approvers, neither the requester."),
    ("", 1, 2, [APPROVER, BOARD], True, "Two-person rule; one approver from the board outside the owning team."),
    ("reenable_side_effects", 3, 2, [APPROVER, BOARD], False, "Side effects back on after a kill switch: two people."),
]

ROLE_PERMISSIONS = {
    BOARD: [
        "view_approvalpolicy",
        "change_approvalpolicy",
        "add_approvalpolicy",
        "view_approvalrequest",
        "view_decision",
        "view_checklistitem",
    ],
    APPROVER: ["view_approvalrequest", "view_decision", "view_checklistitem"],
    "Agent owner": ["view_approvalrequest", "view_decision", "view_checklistitem"],
    "Operator": ["view_approvalrequest", "view_decision", "view_checklistitem"],
    "Executive": ["view_approvalrequest", "view_decision", "view_checklistitem"],
    "Auditor": ["view_approvalpolicy", "view_approvalrequest", "view_decision", "view_checklistitem"],
}


def seed(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("approvals")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    ApprovalPolicy = apps.get_model("approvals", "ApprovalPolicy")
    for kind, tier, required, roles, board, note in POLICIES:
        ApprovalPolicy.objects.get_or_create(
            kind=kind,
            risk_tier=tier,
            defaults={
                "required_approvals": required,
                "eligible_roles": roles,
                "require_board_outside_team": board,
                "note": note,
            },
        )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="approvals", codename=codename))


def unseed(apps, schema_editor):
    apps.get_model("approvals", "ApprovalPolicy").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        ("registry", "0002_seed_roles"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
