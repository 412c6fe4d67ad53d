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


def test_the_web_process_keeps_agent_connections_alive(tmp_path):
    """gunicorn.conf.py (read when gunicorn starts in the repository root): threaded workers with
    keep-alive, so an agent's second request reuses its connection (a sync worker closes it after
    every response); a bad thread count stops the start with a message."""
    import http.client
    import time

    from bench.harness import free_port

    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL") if k in os.environ}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings_test", "PYTHONWARNINGS": "ignore::UserWarning"}
    bad = subprocess.run(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--check-config"],
        cwd=ROOT, env={**env, "GUNICORN_THREADS": "many"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "GUNICORN_THREADS must be a whole number" in bad.stdout + bad.stderr
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"]
    web = subprocess.Popen([*argv, "--log-level", "warning"], cwd=ROOT, env=env)  # noqa: S603 - fixed argv
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.time() + 90
        while True:
            try:
                conn.request("GET", "/healthz")
                first = conn.getresponse()
                first.read()
                break
            except OSError:
                conn.close()
                assert time.time() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        sock = conn.sock
        assert first.status == 200 and first.getheader("Connection", "").lower() != "close"
        assert sock is not None  # http.client closes its socket when the server says close
        conn.request("GET", "/healthz")
        second = conn.getresponse()
        second.read()
        assert second.status == 200 and conn.sock is sock
        conn.close()
    finally:
        web.terminate()
        web.wait(timeout=30)


def test_each_web_worker_freezes_what_it_loaded_at_start():
    """gunicorn.conf.py's ``post_worker_init``: what the worker loaded (every view of the URLconf
    included) is frozen out of the garbage collector's generations, so a full collection triggered
    by a large batch does not walk it with the interpreter lock held."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL") if k in os.environ}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings_test", "PYTHONWARNINGS": "ignore::UserWarning"}
    code = (
        "import gc, runpy, sys, django; django.setup(); before = 'telemetry.api.views' in sys.modules;"
        " runpy.run_path('gunicorn.conf.py')['post_worker_init'](None);"
        " print(before, 'telemetry.api.views' in sys.modules, gc.get_freeze_count() > 50_000)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["False", "True", "True"], run.stdout + run.stderr
