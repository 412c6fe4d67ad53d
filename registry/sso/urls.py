from django.urls import path

from . import oidc, saml

app_name = "sso"

urlpatterns = [
    path("oidc/login/", oidc.OIDCSignInView.as_view(), name="oidc_login"),
    path("oidc/callback/", oidc.OIDCCallbackView.as_view(), name="oidc_callback"),
    path("saml/login/", saml.SamlSignInView.as_view(), name="saml_login"),
    path("saml/acs/", saml.SamlAssertionView.as_view(), name="saml_acs"),
    path("saml/metadata/", saml.SamlMetadataView.as_view(), name="saml_metadata"),
]
