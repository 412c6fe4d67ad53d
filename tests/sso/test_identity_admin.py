"""An administrator links an IdP account to an existing person; the next sign-in lands there."""

import pytest
from django.contrib.auth.models import User

from registry.models import ExternalIdentity
from registry.sso.services import IdpAccount, sso_sign_in_resolve

pytestmark = pytest.mark.django_db


def test_admin_links_an_idp_account_to_an_existing_user(client):
    admin_user = User.objects.create_superuser("root", password="pw-root-123456")
    lena = User.objects.create_user("lena", email="lena@example.com")
    client.force_login(admin_user)
    assert client.get("/admin/registry/externalidentity/").status_code == 200
    answer = client.post(
        "/admin/registry/externalidentity/add/",
        {"user": lena.pk, "provider": "oidc", "issuer": "https://idp.example", "subject": "lena-sub"},
    )
    assert answer.status_code == 302, answer.content[:500]
    # An unverified e-mail would have been refused; the admin's link is what counts.
    account = IdpAccount(provider="oidc", issuer="https://idp.example", subject="lena-sub", email="lena@example.com")
    assert sso_sign_in_resolve(account=account) == lena
    duplicate = client.post(
        "/admin/registry/externalidentity/add/",
        {"user": admin_user.pk, "provider": "oidc", "issuer": "https://idp.example", "subject": "lena-sub"},
    )
    assert duplicate.status_code == 200 and ExternalIdentity.objects.count() == 1
