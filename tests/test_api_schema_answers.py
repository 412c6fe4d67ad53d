"""The OpenAPI schema tells the truth about nullable fields and error answers (issue 14, item 2)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

NULLABLE = [
    ("Incident", "agent"),
    ("Incident", "version"),
    ("Incident", "commander"),
    ("TimelineEntry", "actor"),
    ("ChangeRequest", "version"),
    ("ChangeRequest", "requester"),
    ("ChecklistItem", "ticked_by"),
    ("EvalRun", "created_by"),
    ("CaseResult", "judge"),
]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(("component", "field"), NULLABLE)
def test_a_field_that_can_be_null_is_nullable_in_the_schema(schema, component, field):
    assert schema["components"]["schemas"][component]["properties"][field].get("nullable") is True


def test_every_operation_documents_its_error_answers(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"401", "403", "429", "503"} <= statuses, (method, path, statuses)
            if "requestBody" in operation:
                assert {"400", "409", "413"} <= statuses, (method, path, statuses)
            if "{" in path:
                assert "404" in statuses, (method, path, statuses)
            assert "Retry-After" in operation["responses"]["503"].get("headers", {}), (method, path)
