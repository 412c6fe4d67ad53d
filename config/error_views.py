"""The CSRF failure page, rendered in the layout.

Django's own ``csrf_failure`` renders ``403_csrf.html`` without the request, so the page would
lose the signed-in user's navigation; this one renders the same template with it."""

from __future__ import annotations

import json
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template import loader
from django.views.defaults import page_not_found


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseForbidden:
    # ``reason`` names Django's internal check ("CSRF cookie not set."); it is logged by Django
    # already and is not shown: the page says what the user can do instead.
    return HttpResponseForbidden(loader.render_to_string("403_csrf.html", request=request))


# A lost database connection is temporary: clients should come back after this many seconds.
DATABASE_RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: every uncaught exception, wherever it happened (view or middleware).

    Django calls it inside its ``except`` block, so the exception is at hand. A lost database
    (``OperationalError``/``InterfaceError``: restarted, failed over, connection killed) answers
    503 with ``Retry-After``; anything else 500. Under ``/api/`` in the API's JSON error shape,
    elsewhere as a static page: rendered without the request, since what failed may be what the
    context processors need."""
    exc = sys.exception()
    unavailable = isinstance(exc, OperationalError | InterfaceError)
    status = 503 if unavailable else 500
    if request.path.startswith("/api/"):
        code, message = (
            ("service_unavailable", "The service is briefly unavailable; retry after the Retry-After delay.")
            if unavailable
            else ("server_error", "Quorum could not finish this request; the error has been logged.")
        )
        body = json.dumps({"errors": [{"code": code, "field": None, "message": message}]})
        response = HttpResponse(body, status=status, content_type="application/json")
    else:
        template = "503.html" if unavailable else "500.html"
        response = HttpResponse(loader.render_to_string(template), status=status)
    if unavailable:
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: an address no URL pattern matches (``/api/v1/agents/a:b/``) is JSON under
    ``/api/`` like every other API answer; the console keeps Django's page (``404.html``)."""
    if request.path.startswith("/api/"):
        message = "No such endpoint or object."
        body = json.dumps({"errors": [{"code": "not_found", "field": None, "message": message}]})
        return HttpResponse(body, status=404, content_type="application/json")
    return page_not_found(request, exception)
