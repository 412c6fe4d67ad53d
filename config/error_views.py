"""The CSRF failure page, rendered in the layout.

Django's own ``csrf_failure`` renders ``403_csrf.html`` without the request, so the page would
lose the signed-in user's navigation; this one renders the same template with it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseForbidden
from django.template import loader


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseForbidden:
    # ``reason`` names Django's internal check ("CSRF cookie not set."); it is logged by Django
    # already and is not shown: the page says what the user can do instead.
    return HttpResponseForbidden(loader.render_to_string("403_csrf.html", request=request))
