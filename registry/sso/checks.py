"""Start-up check: a role map that names a role Quorum does not have is a typo that would
silently give nobody that role, so ``manage.py check`` (and every server start) refuses it."""

from django.conf import settings
from django.core.checks import Error, register

from ..roles import ALL_ROLES


@register()
def sso_role_map_check(app_configs=None, **kwargs) -> list[Error]:
    unknown = sorted(set(settings.QUORUM_SSO_ROLE_MAP.values()) - set(ALL_ROLES))
    return (
        [
            Error(
                f"QUORUM_SSO_ROLE_MAP names unknown roles: {', '.join(unknown)}",
                hint=f"Roles are: {', '.join(ALL_ROLES)}.",
                id="quorum.E020",
            )
        ]
        if unknown
        else []
    )
