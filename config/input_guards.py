"""NUL characters in the address, the query string or cookies, dealt with before anything reads them.

PostgreSQL text cannot hold NUL (0x00): a ``?agent=%00`` filter or a session cookie containing
one reached the database as a ``DataError`` (a 500). No legitimate client sends them: in the
address or query the request is answered 400 (JSON under ``/api/``); a cookie holding one is
dropped, as if it had not been sent (a garbled session cookie means no session, and a token in
the Authorization header still counts)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

MESSAGE = "The request contains a NUL character (0x00), which Quorum does not accept."


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


class RefuseNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [name for name, value in request.COOKIES.items() if "\x00" in name + value]:
            del request.COOKIES[name]
        if _has_nul(request):
            if request.path.startswith("/api/"):
                body = json.dumps({"errors": [{"code": "invalid_character", "field": None, "message": MESSAGE}]})
                return HttpResponse(body, status=400, content_type="application/json")
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)
