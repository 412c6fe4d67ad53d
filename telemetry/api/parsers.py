"""JSON for the ingest endpoints: a hard body limit, and decimals kept exact."""

from __future__ import annotations

import json
from decimal import Decimal

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from telemetry.schemas import MAX_BODY_BYTES


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"The request body is larger than {MAX_BODY_BYTES} bytes (5 MiB)."
    default_code = "body_too_large"


class RunJSONParser(BaseParser):
    """``application/json`` with numbers that have a fraction read as ``Decimal`` (cost stays
    exact) and a hard limit of 5 MiB, checked before and while reading."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        try:
            return json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")
