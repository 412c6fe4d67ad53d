"""One eligibility rule: the decision service, the queue (and nav badge) and the e-mail
recipients agree on who may decide, for every kind of person (approvers with a global or a
per-agent right, without one, the requester, the board, executives, auditors, the inactive)."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from approvals.selectors import eligible_approvers, requests_awaiting
from approvals.services import approver_refusal
from registry import roles
from tests.approvals.conftest import make_approver
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(grant_request, owner_user, board_member, executive):
    scoped = make_approver("scoped", global_perm=False)
    assign_perm("registry.approve_agent", scoped, grant_request.agent)
    elsewhere = make_approver("elsewhere", global_perm=False)
    assign_perm("registry.approve_agent", elsewhere, AgentFactory(slug="other-agent"))
    inactive = make_approver("inactive")
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    owner_user.groups.add(*[g for g in UserFactory(roles=[roles.APPROVER]).groups.all()])
    assign_perm("registry.approve_agent", owner_user)  # the requester, even with the rights
    return {
        "global approver": make_approver("global"),
        "approver with a right on this agent": scoped,
        "approver with a right elsewhere": elsewhere,
        "approver without any right": make_approver("norights", global_perm=False),
        "inactive approver": inactive,
        "requester": owner_user,
        "board member": board_member,
        "executive": executive,
        "auditor": UserFactory(username="audrey", roles=[roles.AUDITOR]),
    }


def test_every_reader_of_the_rule_agrees_for_every_kind_of_person(grant_request, people):
    mailed = set(eligible_approvers(grant_request))
    for label, user in people.items():
        may_decide = approver_refusal(grant_request, user) is None
        assert (grant_request in requests_awaiting(user)) is may_decide, label
        assert (user in mailed) is may_decide, label


def test_the_rule_says_who_may_decide(grant_request, people):
    deciders = {label for label, user in people.items() if approver_refusal(grant_request, user) is None}
    assert deciders == {"global approver", "approver with a right on this agent", "board member"}
    assert approver_refusal(grant_request, people["requester"]) == (
        "You requested this change; someone else must decide it."
    )
