import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .idp_oidc import CLIENT_ID, CLIENT_SECRET, provider_start


@pytest.fixture(scope="module")
def provider_jwks():
    """One signing key for the providers of a module: a token of one is correctly signed for the
    other, so only the issuer check can tell them apart."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {"keys": [{**jwk, "kid": "quorum-test-key", "use": "sig", "alg": "RS256"}]}


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory, provider_jwks):
    provider = provider_start(tmp_path_factory.mktemp("oidc"), jwks=provider_jwks)
    yield provider
    provider.stop()


@pytest.fixture
def oidc_settings(settings, oidc_provider):
    settings.QUORUM_OIDC_ISSUER = oidc_provider.issuer
    settings.QUORUM_OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.QUORUM_SSO_ROLE_MAP = {"quorum-approvers": "Approver", "quorum-board": "Governance board"}
    settings.QUORUM_SSO_TEAM_MAP = {"payments-team": "payments"}
    return settings


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory):
    from .idp_saml import idp_create

    return idp_create(tmp_path_factory.mktemp("saml"))


@pytest.fixture
def saml_settings(settings, saml_idp, client):
    settings.QUORUM_SAML_IDP_METADATA = str(saml_idp.metadata_file)
    settings.QUORUM_SAML_PROVIDER_NAME = "Test SAML IdP"
    settings.QUORUM_SSO_ROLE_MAP = {"quorum-approvers": "Approver", "quorum-board": "Governance board"}
    settings.QUORUM_SSO_TEAM_MAP = {"payments-team": "payments"}
    # The IdP trusts Quorum's SP metadata as Quorum publishes it.
    metadata = client.get("/sso/saml/metadata/")
    assert metadata.status_code == 200
    saml_idp.trust_sp(metadata.content.decode())
    return settings
