"""The "awaiting my decision" badge shows on every page: it stays exact (role, agent permission,
own request, already decided) and costs a user no pending request names two small queries."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from approvals.selectors import awaiting_count, requests_awaiting
from tests.approvals.conftest import make_approver

pytestmark = pytest.mark.django_db


def test_a_user_whose_role_no_request_names_gets_zero_in_two_queries(
    grant_request, executive, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        assert awaiting_count(executive) == 0


def test_an_eligible_approver_needs_the_agent_permission_too(grant_request, approver_a):
    assert requests_awaiting(approver_a) == [grant_request]

    no_perm = make_approver("dave", global_perm=False)
    assert awaiting_count(no_perm) == 0
    assign_perm("registry.approve_agent", no_perm, grant_request.agent)
    assert awaiting_count(no_perm) == 1


def test_the_requester_is_not_awaited_even_in_an_eligible_role(grant_request, owner_user):
    for role in grant_request.policy_snapshot["eligible_roles"]:
        from django.contrib.auth.models import Group

        owner_user.groups.add(Group.objects.get(name=role))
    assign_perm("registry.approve_agent", owner_user)
    assert awaiting_count(owner_user) == 0
