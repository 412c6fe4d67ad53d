"""Fixtures for the compliance workbench: uploads in a temporary MEDIA_ROOT, two approvers and a
board member outside the owning team, only compliance's release gates (the others are tested in
their own apps)."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from registry import roles
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.QUORUM_VIRUS_SCAN_COMMAND = ""


@pytest.fixture
def only_compliance_gates():
    from approvals.extensions import apply_gates, request_created_hooks
    from compliance.assessments import fria_gate
    from compliance.documents import documentation_gate

    with apply_gates.override(documentation_gate, fria_gate), request_created_hooks.override():
        yield


@pytest.fixture
def approvers(db):
    users = [UserFactory(username=f"c-approver{i}", roles=[roles.APPROVER]) for i in (1, 2)]
    for user in users:
        assign_perm("registry.approve_agent", user)
    return users


@pytest.fixture
def board_outside(db):
    return UserFactory(username="c-board", roles=[roles.GOVERNANCE_BOARD])
