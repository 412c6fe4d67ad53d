"""Issue 20: the session records how and when its user authenticated (registry/assurance.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, RequestFactory

from registry.assurance import (
    LEVEL_MULTI,
    LEVEL_NONE,
    LEVEL_SINGLE,
    SESSION_KEY,
    Assurance,
    current_assurance,
    record_sign_in,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _request_for(client: Client, user):
    request = RequestFactory().get("/")
    request.session = client.session
    request.user = user
    return request


def test_a_password_sign_in_records_method_password_single_factor():
    user = UserFactory(username="ann")
    client = Client()
    assert client.post("/login/", {"username": "ann", "password": "pw"}).status_code == 302
    assurance = current_assurance(_request_for(client, user))
    assert assurance.method == "password" and not assurance.mfa
    assert assurance.level == LEVEL_SINGLE and assurance.is_fresh() and not assurance.is_fresh_strong()


def test_a_second_factor_upgrades_the_session_and_staleness_is_measured():
    user = UserFactory(username="ben")
    client = Client()
    client.post("/login/", {"username": "ben", "password": "pw"})
    request = _request_for(client, user)
    record_sign_in(request, user, method="totp", mfa=True)
    assurance = current_assurance(request)
    assert assurance.level == LEVEL_MULTI and assurance.is_fresh_strong()
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert not assurance.is_fresh_strong(now=later)  # default QUORUM_STEP_UP_MINUTES is 15
    assert assurance.is_fresh_strong(minutes=30, now=later)


def test_an_identity_providers_acr_or_amr_can_say_multi_factor(settings):
    settings.QUORUM_STRONG_ACR_VALUES = ["gold"]
    settings.QUORUM_STRONG_AMR_VALUES = ["mfa"]
    now = datetime.now(UTC)
    assert Assurance(method="oidc", authenticated_at=now, acr="gold").level == LEVEL_MULTI
    assert Assurance(method="oidc", authenticated_at=now, amr=("pwd", "mfa")).level == LEVEL_MULTI
    assert Assurance(method="oidc", authenticated_at=now, acr="bronze", amr=("pwd",)).level == LEVEL_SINGLE


def test_a_record_for_another_user_or_no_session_vouches_for_nobody():
    ann, ben = UserFactory(username="ann2"), UserFactory(username="ben2")
    client = Client()
    client.force_login(ann)
    request = _request_for(client, ann)
    record_sign_in(request, ann, method="totp", mfa=True)
    request.user = ben
    assert current_assurance(request).level == LEVEL_NONE
    bare = RequestFactory().get("/")
    bare.user = ann
    assert current_assurance(bare).level == LEVEL_NONE
    with pytest.raises(ValueError):
        record_sign_in(request, ann, method="carrier-pigeon", mfa=True)
    assert SESSION_KEY in request.session
