"""Single sign-on (issue 20): OpenID Connect (``oidc``, mozilla-django-oidc) and SAML 2.0
(``saml``, djangosaml2/pysaml2). Both end in :mod:`registry.sso.services`, which links the IdP
account to one local user (:class:`registry.models.ExternalIdentity`) and applies the IdP's groups
to roles and teams at every sign-in; ``passwords`` turns local passwords off but for break-glass
accounts."""
