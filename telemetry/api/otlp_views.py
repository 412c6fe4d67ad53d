"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` (and ``/api/v1/otlp/v1/traces``).

Answers as the OTLP specification says, in the encoding of the request (protobuf or JSON):
200 with an ``ExportTraceServiceResponse`` (``partial_success`` counts the spans refused and
says why), or a ``google.rpc.Status`` with 400 (malformed), 401 (no or wrong key), 413 (too
large), 415 (neither protobuf nor JSON), 429 (over the agent's rate limit, shared with the REST
ingest) or 503 (database unavailable) — the last two with ``Retry-After``. A refused request
stores nothing.

A plain Django view rather than DRF: the answer's encoding follows the request's, and an OTLP
client understands only those two message types."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from rest_framework import authentication, exceptions

from registry.api.authentication import AgentKeyAuthentication, token_failure_record, token_failures_check
from telemetry.models import DiscoveryKey
from telemetry.otlp import JSON, MAX_BODY_BYTES, PROTOBUF, OTLPError, body_decode, traces_ingest

from .throttling import window_hit

# gRPC status codes carried in google.rpc.Status (the OTLP/HTTP error body).
_GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14, 405: 12}
DB_RETRY_AFTER_SECONDS = 5


def _encoding(request: HttpRequest) -> str:
    media = (request.META.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    return JSON if media == JSON else PROTOBUF


def _answer(request, message, status: int = 200, headers: dict | None = None) -> HttpResponse:
    if _encoding(request) == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
        content_type = JSON
    else:
        body = message.SerializeToString()
        content_type = PROTOBUF
    response = HttpResponse(body, status=status, content_type=content_type)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(request, status: int, message: str, retry_after: int | None = None) -> HttpResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="agents"'
    return _answer(request, Status(code=_GRPC_CODE.get(status, 2), message=message[:500]), status, headers)


# Prefixes of agent keys that authenticated here: a discovery key with the same prefix cannot
# appear later (prefixes are random; one in 62^8 to collide across the two tables), so their
# exports skip the discovery-key lookup, one round trip per export. Only prefixes of keys that
# passed authentication are kept (junk cannot fill it), at most _AGENT_KEY_PREFIXES_MAX.
_agent_key_prefixes: dict[str, None] = {}
_AGENT_KEY_PREFIXES_MAX = 10_000


def _agent_key_prefix_remember(prefix: str) -> None:
    if prefix and prefix not in _agent_key_prefixes:
        if len(_agent_key_prefixes) >= _AGENT_KEY_PREFIXES_MAX:
            _agent_key_prefixes.clear()
        _agent_key_prefixes[prefix] = None


def otlp_principal(request: HttpRequest):
    """The agent whose key this is, or ``None`` for a valid organisation discovery key.
    Raises ``AuthenticationFailed`` (counted against the address) or ``Throttled``."""
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != b"bearer":
        raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <agent key or discovery key>'.")
    key = header[1].decode(errors="replace")
    prefix = key.partition(".")[0]
    discovery_key = None
    if prefix and prefix not in _agent_key_prefixes:
        # An address locked out for failed keys is refused before the table is read. A known agent
        # key's prefix skips this: the agent key check reads the failure count itself, with the
        # key cache's stamp in the same round trip (a second GET here was one more per export).
        token_failures_check(request)
        discovery_key = DiscoveryKey.objects.filter(prefix=prefix).first()
    if discovery_key is None:
        principal, _key = AgentKeyAuthentication().authenticate_token(request, key)
        _agent_key_prefix_remember(prefix)
        return principal.agent, f"{principal.agent.pk}"
    if not discovery_key.is_valid(key) or discovery_key.revoked or discovery_key.has_expired:
        token_failure_record(request)
        raise exceptions.AuthenticationFailed("Invalid, revoked or expired discovery key.")
    now = timezone.now()
    if discovery_key.last_used_at is None or (now - discovery_key.last_used_at).total_seconds() > 60:
        DiscoveryKey.objects.filter(pk=discovery_key.pk).update(last_used_at=now)
    return None, f"dk:{discovery_key.prefix}"


@csrf_exempt
def otlp_traces(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = _error(request, 405, "POST an ExportTraceServiceRequest.")
        response["Allow"] = "POST"
        return response
    try:
        agent, ident = otlp_principal(request)
    except exceptions.Throttled as exc:
        return _error(request, 429, str(exc.detail), retry_after=int(exc.wait or 60))
    except exceptions.AuthenticationFailed as exc:
        return _error(request, 401, str(exc.detail))
    except OperationalError:
        return _error(request, 503, "The database is unavailable; retry later.", DB_RETRY_AFTER_SECONDS)
    allowed, wait = window_hit("runs", ident)
    if not allowed:
        return _error(request, 429, "Rate limit for this key exceeded.", retry_after=max(1, int(wait + 0.999)))
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _error(request, 413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        message = body_decode(
            request.read(MAX_BODY_BYTES + 1),
            content_type=request.META.get("CONTENT_TYPE") or "",
            content_encoding=request.META.get("HTTP_CONTENT_ENCODING") or "",
        )
        result = traces_ingest(message=message, agent=agent)
    except OTLPError as exc:
        return _error(request, exc.status, exc.message)
    except (OperationalError, InterfaceError):
        return _error(request, 503, "The database is unavailable; retry later.", DB_RETRY_AFTER_SECONDS)
    answer = ExportTraceServiceResponse()
    if result.rejected or result.messages:
        answer.partial_success.rejected_spans = result.rejected
        answer.partial_success.error_message = result.error_message()
    return _answer(request, answer)
