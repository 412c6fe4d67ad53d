"""One database engine everywhere: PostgreSQL. Anything else stops at start-up with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _start_django(database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update({"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50})
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['HOST'])"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("url", ["sqlite:///var/quorum.sqlite3", "mysql://root@127.0.0.1/quorum"])
def test_a_non_postgresql_database_url_stops_with_a_clear_message(url):
    result = _start_django(url)
    assert result.returncode != 0
    assert "DATABASE_URL must point to PostgreSQL" in result.stderr
    assert "runs on PostgreSQL only" in result.stderr


def test_a_socket_directory_in_the_url_reaches_postgresql_over_its_socket():
    result = _start_django("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/quorum")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/var/run/postgresql"


def test_the_suite_has_no_sqlite_configuration():
    from django.conf import settings

    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("config", "tests", "scripts", ".ci")
        for path in (REPO / folder).rglob("*")
        if path.is_file()
        and path.suffix in (".py", "", ".toml", ".cfg")
        and path.name != Path(__file__).name
        and "sqlite" in path.read_text(errors="ignore").lower()
    ]
    assert not offenders, offenders
