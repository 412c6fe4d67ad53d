"""A local SAML 2.0 identity provider built from pysaml2's own IdP (``saml2.server.Server``), in
process: it reads Quorum's real AuthnRequest, and answers with a response signed by its own key
(xmlsec1), which the test posts to Quorum's assertion consumer like a browser would."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import saml2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary

IDP_ENTITY_ID = "https://idp.test.quorum/metadata"
IDP_SSO_URL = "https://idp.test.quorum/sso/redirect"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
MFA_CONTEXT = "https://refeds.org/profile/mfa"


def key_and_cert(directory: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class SamlIdp:
    directory: Path
    key_file: Path
    cert_file: Path
    metadata_file: Path
    server: Server | None = None

    def trust_sp(self, sp_metadata: str) -> None:
        """Load Quorum's SP metadata (from its /sso/saml/metadata/ page) into the IdP."""
        sp_file = self.directory / "sp-metadata.xml"
        sp_file.write_text(sp_metadata)
        config = IdPConfig()
        config.load(self._config(sp_file))
        self.server = Server(config=config)

    def _config(self, sp_file: Path | None) -> dict:
        return {
            "entityid": IDP_ENTITY_ID,
            "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "metadata": {"local": [str(sp_file)]} if sp_file else {},
            "service": {
                "idp": {
                    "name": "Quorum test IdP",
                    "endpoints": {"single_sign_on_service": [(IDP_SSO_URL, saml2.BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None}},
                }
            },
        }

    def answer(
        self,
        redirect_url: str,
        *,
        subject: str,
        attributes: dict[str, list[str]],
        context: str = PASSWORD_CONTEXT,
        sign: bool = True,
    ) -> tuple[str, str]:
        """The IdP's answer to the AuthnRequest in ``redirect_url``: (SAMLResponse XML, RelayState)."""
        assert self.server is not None and redirect_url.startswith(IDP_SSO_URL)
        query = parse_qs(urlsplit(redirect_url).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], saml2.BINDING_HTTP_REDIRECT)
        response_args = self.server.response_args(request.message)
        response = self.server.create_authn_response(
            identity=attributes,
            userid=subject,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            authn={"class_ref": context, "authn_auth": IDP_ENTITY_ID},
            sign_assertion=sign,
            sign_response=False,
            **response_args,
        )
        return str(response), query.get("RelayState", [""])[0]


def idp_create(directory: Path) -> SamlIdp:
    key_file, cert_file = key_and_cert(directory, "idp")
    idp = SamlIdp(directory, key_file, cert_file, directory / "idp-metadata.xml")
    config = IdPConfig()
    config.load(idp._config(None))
    idp.metadata_file.write_text(create_metadata_string(None, config=config, valid=24).decode())
    return idp


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()
