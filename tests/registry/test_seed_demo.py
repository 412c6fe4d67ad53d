import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from registry.models import Agent, AgentVersion, Scope, Team, Tool, ToolGrant


def _snapshot():
    tables = [get_user_model(), Team, Scope, Tool, Agent, AgentVersion, ToolGrant]
    rows = {}
    for model in tables:
        rows[model.__name__] = sorted(map(repr, model.objects.values()))
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from guardian_userobjectpermission")
        rows["object_permissions"] = cursor.fetchone()[0]
        cursor.execute("select count(*) from auth_user_groups")
        rows["memberships"] = cursor.fetchone()[0]
    return rows


def test_it_seeds_a_realistic_registry(db):
    call_command("seed_demo", stdout=io.StringIO())
    assert Agent.objects.count() >= 12
    assert set(Agent.objects.values_list("risk_tier", flat=True)) == {1, 2, 3}
    assert Team.objects.count() >= 5
    assert set(Tool.objects.values_list("action_tier", flat=True)) == {0, 1, 2, 3, 4}
    assert Tool.objects.filter(name="payments.refund").exists()
    assert AgentVersion.objects.filter(state="deployed").count() >= 8
    for role in ("board", "approver", "owner", "operator", "executive", "auditor"):
        assert get_user_model().objects.get(username=role).groups.exists()


def test_running_seed_demo_twice_leaves_the_same_rows(db):
    call_command("seed_demo", stdout=io.StringIO())
    first = _snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert _snapshot() == first
