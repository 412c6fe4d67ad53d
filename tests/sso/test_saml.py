"""SAML 2.0 sign-in against a local IdP built from pysaml2's own IdP support."""

import pytest

from registry.assurance import current_assurance
from registry.models import ExternalIdentity, Team

from .idp_saml import IDP_ENTITY_ID, MFA_CONTEXT, encoded

pytestmark = pytest.mark.django_db


def _start(client):
    start = client.get("/sso/saml/login/")
    assert start.status_code == 302, start.content[:300]
    return start["Location"]


def _sign_in(client, idp, subject, attributes, **kwargs):
    xml, relay = idp.answer(_start(client), subject=subject, attributes=attributes, **kwargs)
    return client.post("/sso/saml/acs/", {"SAMLResponse": encoded(xml), "RelayState": relay})


def test_sign_in_maps_groups_and_removes_them_next_time(client, saml_settings, saml_idp):
    payments = Team.objects.create(slug="payments", name="Payments")
    attributes = {"email": ["hana@example.com"], "uid": ["hana"], "groups": ["quorum-approvers", "payments-team"]}
    answer = _sign_in(client, saml_idp, "hana-1", attributes, context=MFA_CONTEXT)
    assert answer.status_code == 302, answer.content[:500]
    link = ExternalIdentity.objects.get(issuer=IDP_ENTITY_ID, subject="hana-1")
    hana = link.user
    assert (hana.username, link.provider) == ("hana", "saml")
    assert list(hana.groups.values_list("name", flat=True)) == ["Approver"]
    assert payments.members.filter(pk=hana.pk).exists()
    home = client.get("/")
    assert home.wsgi_request.user == hana
    assurance = current_assurance(home.wsgi_request)
    assert (assurance.method, assurance.strong, assurance.subject) == ("saml", True, f"{IDP_ENTITY_ID}|hana-1")
    client.logout()
    attributes["groups"] = ["quorum-board"]
    assert _sign_in(client, saml_idp, "hana-1", attributes).status_code == 302
    assert list(hana.groups.values_list("name", flat=True)) == ["Governance board"]
    assert not payments.members.filter(pk=hana.pk).exists()


def test_unsigned_assertion_refused(client, saml_settings, saml_idp):
    answer = _sign_in(client, saml_idp, "ivan-1", {"uid": ["ivan"]}, sign=False)
    assert answer.status_code == 403 and b"refused" in answer.content
    assert not ExternalIdentity.objects.filter(subject="ivan-1").exists()


def test_tampered_assertion_refused(client, saml_settings, saml_idp):
    xml, relay = saml_idp.answer(_start(client), subject="judy-1", attributes={"uid": ["judy"], "groups": ["staff"]})
    assert ">staff<" in xml
    forged = xml.replace(">staff<", ">quorum-board<")
    answer = client.post("/sso/saml/acs/", {"SAMLResponse": encoded(forged), "RelayState": relay})
    assert answer.status_code == 403
    assert not ExternalIdentity.objects.filter(subject="judy-1").exists()


def test_answer_to_a_request_never_made_refused(client, saml_settings, saml_idp):
    xml, relay = saml_idp.answer(_start(client), subject="kim-1", attributes={"uid": ["kim"]})
    other_browser = client.__class__()
    answer = other_browser.post("/sso/saml/acs/", {"SAMLResponse": encoded(xml), "RelayState": relay})
    assert answer.status_code == 403
    assert not ExternalIdentity.objects.filter(subject="kim-1").exists()


@pytest.mark.parametrize("body", [{}, {"SAMLResponse": ""}, {"SAMLResponse": "not base64 !"}, {"SAMLResponse": "PHg+"}])
def test_bad_acs_input_answers_4xx(client, saml_settings, body):
    answer = client.post("/sso/saml/acs/", body)
    assert 400 <= answer.status_code < 500


def test_saml_is_404_when_not_configured(client):
    assert client.get("/sso/saml/login/").status_code == 404
    assert client.post("/sso/saml/acs/", {"SAMLResponse": "x"}).status_code == 404
