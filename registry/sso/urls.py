from django.urls import path

from . import oidc

app_name = "sso"

urlpatterns = [
    path("oidc/login/", oidc.OIDCSignInView.as_view(), name="oidc_login"),
    path("oidc/callback/", oidc.OIDCCallbackView.as_view(), name="oidc_callback"),
]
