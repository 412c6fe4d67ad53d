"""One error shape for the whole API: a machine-readable code, the field, a sentence.

{"errors": [{"code": "invalid", "field": "ended_at", "message": "..."}]}
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def flatten_errors(detail, field: str | None = None) -> list[dict]:
    """DRF's nested ``detail`` (dicts, lists, ErrorDetail) as a flat list of field errors."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                name = None
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                # DRF reports list items as {index: errors}; name them like a path: items[3].field
                name = f"{field}[{key}]" if field else f"[{key}]"
            else:
                name = f"{field}.{key}" if field else str(key)
            out.extend(flatten_errors(value, name if name is not None else field))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(flatten_errors(value, f"{field}[{index}]" if field else f"[{index}]"))
            else:
                out.extend(flatten_errors(value, field))
    else:
        out.append({"code": getattr(detail, "code", "invalid"), "field": field, "message": str(detail)})
    return out


def quorum_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
        return None
    errors = flatten_errors(response.data)
    data = {"errors": errors}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        data["retry_after"] = getattr(exc, "wait", None)
    return Response(data, status=response.status_code, headers={k: v for k, v in response.items()})
