import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_openapi_schema_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/agents/" in out.read_text()


@pytest.mark.django_db
def test_the_schema_and_docs_are_served(client, board_user):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
