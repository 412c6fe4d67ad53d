"""The database backs "one IdP account signs in as exactly one local user"."""

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from registry.models import ExternalIdentity

pytestmark = pytest.mark.django_db


def test_one_idp_account_links_to_one_user_only():
    alice = User.objects.create_user("alice")
    mallory = User.objects.create_user("mallory")
    ExternalIdentity.objects.create(user=alice, provider="oidc", issuer="https://idp.example", subject="42")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalIdentity.objects.create(user=mallory, provider="oidc", issuer="https://idp.example", subject="42")
    # The same subject at another issuer is another account.
    ExternalIdentity.objects.create(user=mallory, provider="saml", issuer="https://other.example", subject="42")


@pytest.mark.parametrize("fields", [{"provider": "ldap", "subject": "1"}, {"provider": "oidc", "subject": ""}])
def test_unknown_provider_or_empty_subject_refused(fields):
    user = User.objects.create_user("bob")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalIdentity.objects.create(user=user, issuer="https://idp.example", **fields)
