"""A tier is a whole number (issue 14, item 2): 1.5, 3.0 and true are refused, not truncated."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from approvals import services
from approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("tier", [1.5, 3.0, "3.0", True, "three"])
def test_a_tier_that_is_not_a_whole_number_is_refused(agent, owner_user, tier):
    with pytest.raises(ValidationError) as exc:
        services.change_request_create(
            agent=agent, kind="tier_change", payload={"risk_tier": tier}, requester=owner_user, justification="Why."
        )
    assert "risk_tier" in exc.value.message_dict
    assert ApprovalRequest.objects.count() == 0


@pytest.mark.parametrize("tier", [3, "3"])
def test_a_whole_tier_still_passes(agent, owner_user, tier):
    services.change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": tier}, requester=owner_user, justification="Why."
    )
    assert ApprovalRequest.objects.get().payload["risk_tier"] == 3
