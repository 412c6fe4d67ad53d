"""OpenAPI: every operation documents the error answers it can give, in the API's one shape.

A drf-spectacular postprocessing hook, so a new endpoint is covered without a decorator; answers
an operation already documents (with its own description or examples) are kept as they are."""

from __future__ import annotations

ERROR_COMPONENT = {
    "type": "object",
    "properties": {
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}},
        "retry_after": {"type": "integer", "nullable": True},
    },
    "required": ["errors"],
}
ERROR_ITEM_COMPONENT = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "field": {"type": "string", "nullable": True},
        "message": {"type": "string"},
    },
    "required": ["code", "field", "message"],
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}

# status → (description, applies to the operation?)
ERROR_ANSWERS = {
    "400": ("Invalid input; every error names its field (or the body: malformed, nested too deep).", "input"),
    "401": ("No credential, or a bad, expired or revoked one (see WWW-Authenticate).", "all"),
    "403": ("Authenticated, but not allowed to do this.", "all"),
    "404": ("No such object, or not one this principal may see.", "path"),
    "409": ("Conflicts with the current state (already decided, a duplicate, a stale revision).", "body"),
    "413": ("The body is larger than the endpoint's limit.", "body"),
    "429": ("Too many requests (or failed authentications) from this principal or address.", "all"),
    "503": ("The database was briefly unreachable; retry after Retry-After.", "all"),
}


def _applies(scope: str, operation: dict, path: str) -> bool:
    has_body = "requestBody" in operation
    if scope == "all":
        return True
    if scope == "body":
        return has_body
    if scope == "path":
        return "{" in path
    return has_body or bool(operation.get("parameters"))  # "input"


def document_error_answers(result, generator, request, public):
    """Adds the 400/401/403/404/409/413/429/503 answers each operation can give."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_COMPONENT)
    schemas.setdefault("ErrorItem", ERROR_ITEM_COMPONENT)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not path.startswith("/api/v1/") or not isinstance(operation, dict) or method == "parameters":
                continue
            responses = operation.setdefault("responses", {})
            for status, (description, scope) in ERROR_ANSWERS.items():
                if status in responses or not _applies(scope, operation, path):
                    continue
                answer = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                if status in ("429", "503"):
                    answer["headers"] = RETRY_AFTER
                responses[status] = answer
    return result
