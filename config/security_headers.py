"""Permissions-Policy on every answer: the console uses no camera, microphone, location,
payment or other powerful browser feature, so none is granted to it or to anything it frames.

(Content-Security-Policy comes from django-csp, through ``CSPMiddleware`` below; Referrer-Policy,
X-Content-Type-Options and X-Frame-Options from Django's SecurityMiddleware and
XFrameOptionsMiddleware.)"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import csp.middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "xr-spatial-tracking",
    )
)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


# What a view sets on its answer to change or drop the policy (django-csp's decorators).
_PER_VIEW = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


@cache
def _configured_policies() -> tuple[str, str]:
    """The enforced and report-only policies as configured, with no nonce (django-csp's own
    ``build_policy``, so the text is the library's)."""
    return build_policy(), build_policy(report_only=True)


@receiver(setting_changed)
def _policies_forget(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _configured_policies.cache_clear()


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's middleware, with the policy text built once per process for the answers that
    take it as configured: no nonce drawn (the page used none) and no per-view change. Every API
    answer is one of them, and building the two policies again for each was about a tenth of a
    millisecond of an agent request. Any other answer (a page with a nonce, Swagger UI's
    ``csp_replace``) takes the library's own path."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_VIEW)
            or HEADER in response
            or HEADER_REPORT_ONLY in response
            or settings.DEBUG
        ):
            return super().process_response(request, response)
        enforced, report_only = _configured_policies()
        if enforced and not _excluded(request, "CONTENT_SECURITY_POLICY"):
            response[HEADER] = enforced
        if report_only and not _excluded(request, "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
            response[HEADER_REPORT_ONLY] = report_only
        # As the library does: a nonce asked for after the header was written is an error.
        request.csp_nonce = csp.middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


def _excluded(request: HttpRequest, setting: str) -> bool:
    prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
    return bool(prefixes) and request.path_info.startswith(tuple(prefixes))
