"""``Server-Timing: app;dur=<ms>`` on every answer: the milliseconds Quorum spent on the request,
from the first middleware in to the response leaving it (the W3C Server Timing header, which
browsers' developer tools and the SDK can read).

Why: an agent team or operator looking at a slow gate call can tell the server's share from the
network's and their own client's without a trace; the action gate's latency goal (issue 18, "≤ 5 ms
p50 server time") is measured with it in ``make bench``. The figure is a duration only (no query
text, no names), which the client can already time for itself, less precisely."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    """First in ``MIDDLEWARE``, so the figure covers every other middleware and the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = perf_counter()
        response = self.get_response(request)
        response.headers["Server-Timing"] = f"app;dur={(perf_counter() - started) * 1000:.2f}"
        return response
