import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_check(extra_env):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = _run_check(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "p" * 20 + "Xq9-production-secret-key-with-plenty-of-entropy-7c1f",
            "ALLOWED_HOSTS": "quorum.example.com",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/quorum",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "QUORUM_VAR_DIR": str(tmp_path),
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run_check(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "QUORUM_VAR_DIR": str(tmp_path),
        }
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_keeps_database_connections_open_and_checks_them(tmp_path):
    """A new PostgreSQL connection per request would cost the agent endpoints as much as their work."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "p" * 20 + "Xq9-production-secret-key-with-plenty-of-entropy-7c1f",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/quorum",
            "QUORUM_VAR_DIR": str(tmp_path),
        }
    )
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        " print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )

    def printed():
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        return run.stdout.split() or [run.stderr]

    assert printed() == ["60", "True"]
    env["CONN_MAX_AGE"] = "0"  # a pooler in front (PgBouncer) may want them closed: the variable still decides
    assert printed() == ["0", "True"]
