"""Settings for the test suite: real PostgreSQL and Redis, overridable by environment.

PostgreSQL is ``DATABASE_URL`` if set, else the server on 127.0.0.1:5432 if one answers, else the
embedded server (``config/embedded_postgres.py``). ``make test`` checks both servers before pytest starts.
"""

import os
import tempfile
from pathlib import Path

from config import embedded_postgres

_VAR_DIR = Path(os.environ.get("QUORUM_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
# Set in the environment, not only here: the Celery workers and servers the tests start inherit it.
os.environ["DATABASE_URL"] = embedded_postgres.test_database_url(_VAR_DIR, dict(os.environ))

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("QUORUM_HTTPS", "0")
os.environ.setdefault("QUORUM_MANIFEST_STATIC", "0")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
# Playwright's sync API runs an event loop in the test thread; the ORM calls there are synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Tests change agents and keys behind the services' back (QuerySet.update) to set up cases; the
# key cache is tested on its own with real web processes (tests/registry/test_agent_key_cache.py).
os.environ.setdefault("AGENT_KEY_CACHE_SECONDS", "0")
# A connection per request, as before production kept them open: the test database is dropped at the
# end while the servers the tests start may still be running, and a held connection would block that.
os.environ.setdefault("CONN_MAX_AGE", "0")

from config.settings import *  # noqa: E402,F403

ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; tests only.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Uploaded documents (compliance) go to a directory of this run, never into var/media.
MEDIA_ROOT = os.environ.setdefault("QUORUM_MEDIA_ROOT", tempfile.mkdtemp(prefix="quorum-test-media-"))
