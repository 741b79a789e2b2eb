"""All settings, read from the environment (django-environ); production differs only by env."""

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()  # lets admin and forms take type parameters at run time

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------- GENERAL
# DEBUG defaults on so that a fresh clone runs the embedded default; production sets DEBUG=False
# and must then provide every secret below (none of them has a production default).
DEBUG = env.bool("DEBUG", default=True)
PLATFORM_NAME = env.str("PLATFORM_NAME", default="Relay")
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")
    return dev_default


SECRET_KEY = _required_in_production("SECRET_KEY", "dev-only-secret-key-not-for-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# Keys for secrets at rest (Fernet, url-safe base64 of 32 bytes), newest first. They are not
# derived from SECRET_KEY so that either can be rotated alone: add a key in front, run
# `manage.py rotate_encryption_key`, then drop the old key.
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _required_in_production(
        "FIELD_ENCRYPTION_KEYS", "ZGV2LW9ubHkta2V5LTMyLWJ5dGVzLWxvbmctISEhISE="
    ).split(",")
    if key.strip()
]

# ---------------------------------------------------------------- APPS
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
SANDBOX_FORCE = env.bool("SANDBOX_FORCE", default=False)
if SANDBOX_ENABLED and not DEBUG and not SANDBOX_FORCE:
    raise ImproperlyConfigured(
        "SANDBOX_ENABLED is refused when DEBUG is off; set SANDBOX_FORCE=True to override"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "onboarding",
    "messaging",
]
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
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
            ],
        },
    },
]

# ---------------------------------------------------------------- DATABASE
# Embedded default: one SQLite file. Production and tests: DATABASE_URL=postgres://...
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'platform.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL lets the web server, the worker and beat read while one of them writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding lets psycopg prepare a statement run 5 times on a connection, so
    # PostgreSQL plans the hot paths' statements once per connection instead of per request
    # (PostgreSQL's CPU per send request: about 1.7 ms -> 0.9, most of it the planning of the
    # sender read's subqueries). A pooler in transaction mode (PgBouncer) cannot keep prepared
    # statements: set it False there.
    _ssb = env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": _ssb, "prepare_threshold": 5 if _ssb else None}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- CACHE
# Redis when REDIS_URL is set (shared, atomic INCR for throttles); otherwise per-process memory,
# which is enough for the embedded default's single web process.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# ---------------------------------------------------------------- STATIC
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- SECURITY
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

# ---------------------------------------------------------------- DRF
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "onboarding.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI (drf-spectacular): /api/schema/ and /api/docs/, assets served by us, not a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": f"{PLATFORM_NAME} WhatsApp Tech Provider API",
    "DESCRIPTION": "Embedded Signup onboarding, webhooks, messages and templates.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1/Account/\{auth_id\}/",
    # Only the Tech Provider API (/v1/): the Connect page's endpoints and the sandbox are not it.
    "PREPROCESSING_HOOKS": ["onboarding.api.openapi.exclude_browser_and_sandbox"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "onboarding.api.openapi.empty_query_is_absent",
    ],
    "ENUM_NAME_OVERRIDES": {
        "WabaStatusEnum": "onboarding.models.WhatsAppBusinessAccount.Status",
        "OnboardingStatusEnum": "onboarding.models.Onboarding.Status",
        "StepStatusEnum": "onboarding.models.OnboardingStep.Status",
    },
}

# ---------------------------------------------------------------- API
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=10)  # failures per window
API_AUTH_FAILURE_WINDOW_S = env.int("API_AUTH_FAILURE_WINDOW_S", default=300)
IDEMPOTENCY_KEY_TTL_S = env.int("IDEMPOTENCY_KEY_TTL_S", default=24 * 3600)
API_PAGE_LIMIT_MAX = 100

# ---------------------------------------------------------------- CELERY
# Embedded default: kombu's filesystem transport (no broker server) under var/broker, served by
# a real worker process. Production: CELERY_BROKER_URL=redis://... (or amqp://...).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),  # kombu's default is ./control
        "store_processed": False,
        # kombu polls the folder every second by default and then takes about three messages,
        # fewer than beat publishes (about 3.5 a second), so the queue, and every onboarding
        # task's wait behind it, grew without end; at 0.1 s it stays empty.
        "polling_interval": 0.1,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    (VAR_DIR / "broker").mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged after it ran; services are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a SIGKILLed worker's task is redelivered
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one slow Graph call must not hold other tasks back
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the DB connection around every task unless this is set.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# ---------------------------------------------------------------- META GRAPH
# With the sandbox on, every Meta setting defaults to the sandbox's own app and endpoints.
SANDBOX_APP_ID = "100000000000001"
SANDBOX_APP_SECRET = "sandbox-app-secret-0123456789abcdef"  # noqa: S105 - the simulator's, public
SANDBOX_SYSTEM_USER_TOKEN = "SANDBOX-SYSTEM-USER-TOKEN"  # noqa: S105 - the simulator's, public
SANDBOX_CREDIT_LINE_ID = "900000000000001"
SANDBOX_WEBHOOK_VERIFY_TOKEN = "sandbox-verify-token"  # noqa: S105 - the simulator's, public


def _meta(name: str, sandbox_value: str) -> str:
    if SANDBOX_ENABLED:
        return env.str(name, default=sandbox_value)
    return _required_in_production(name, "")


GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v26.0")
GRAPH_API_BASE_URL = env.str(
    "GRAPH_API_BASE_URL",
    default=f"{PUBLIC_BASE_URL}/sandbox/graph" if SANDBOX_ENABLED else "https://graph.facebook.com",
).rstrip("/")
GRAPH_API_TIMEOUT_S = env.float("GRAPH_API_TIMEOUT_S", default=20.0)
META_APP_ID = _meta("META_APP_ID", SANDBOX_APP_ID)
# Several secrets, comma-separated, newest first: webhooks verify against any of them.
META_APP_SECRET = [s for s in _meta("META_APP_SECRET", SANDBOX_APP_SECRET).split(",") if s]
META_SYSTEM_USER_TOKEN = _meta("META_SYSTEM_USER_TOKEN", SANDBOX_SYSTEM_USER_TOKEN)
META_CREDIT_LINE_ID = _meta("META_CREDIT_LINE_ID", SANDBOX_CREDIT_LINE_ID)
META_WEBHOOK_VERIFY_TOKEN = _meta("META_WEBHOOK_VERIFY_TOKEN", SANDBOX_WEBHOOK_VERIFY_TOKEN)
META_SDK_URL = "https://connect.facebook.net/en_US/sdk.js"
SESSION_INFO_VERSION_DEFAULT = env.str("SESSION_INFO_VERSION_DEFAULT", default="2")

# ---------------------------------------------------------------- PIPELINE
# Onboarding pipeline settings (issue 4) live here.
# Where Meta posts each WABA's webhooks (override_callback_uri); served by messaging.
WABA_WEBHOOK_PATH = "/webhooks/meta/waba/{waba_id}/"
# Retryable Meta errors back off exponentially from BASE with half jitter, capped at CAP, and
# fail the onboarding after MAX_ATTEMPTS attempts of one step. Longer waits (wait-long errors,
# Meta's register limit) are next_attempt_at plus the sweeper, never a broker countdown.
PIPELINE_RETRY_BASE_S = env.float("PIPELINE_RETRY_BASE_S", default=2.0)
PIPELINE_RETRY_CAP_S = env.float("PIPELINE_RETRY_CAP_S", default=300.0)
PIPELINE_MAX_ATTEMPTS = env.int("PIPELINE_MAX_ATTEMPTS", default=10)
# A claimed step is leased this long; it must outlive the task's hard time limit, so a step is
# taken over only when its worker is surely gone.
PIPELINE_STEP_LEASE_S = env.float("PIPELINE_STEP_LEASE_S", default=CELERY_TASK_TIME_LIMIT + 30)
# The sweeper re-enqueues due waits, expired leases, and onboardings idle this long (lost nudges).
PIPELINE_SWEEP_INTERVAL_S = env.float("PIPELINE_SWEEP_INTERVAL_S", default=30.0)
PIPELINE_STALE_S = env.float("PIPELINE_STALE_S", default=60.0)
CELERY_BEAT_SCHEDULE["onboarding-sweep"] = {  # every PIPELINE_SWEEP_INTERVAL_S (30 s)
    "task": "onboarding.onboarding_sweep",
    "schedule": PIPELINE_SWEEP_INTERVAL_S,
    "options": {"expires": PIPELINE_SWEEP_INTERVAL_S},  # a backlog of sweeps is pointless
}
# Test-only (the kill test): the worker SIGKILLs itself right after this step's Graph call, before
# recording it. See onboarding/services/faults.py. Refused when DEBUG is off.
PIPELINE_CRASH_AFTER = env.str("PIPELINE_CRASH_AFTER", default="")
if PIPELINE_CRASH_AFTER and not DEBUG:
    raise ImproperlyConfigured("PIPELINE_CRASH_AFTER is a test hook, refused when DEBUG is off")

# ---------------------------------------------------------------- WEBHOOKS
# Meta ingest and Tech Provider delivery settings (issue 6) live here. docs/webhooks.md explains
# the design; every interval below is in seconds.
META_WEBHOOK_MAX_BYTES = env.int("META_WEBHOOK_MAX_BYTES", default=3 * 1024 * 1024)
# Events for a WABA we do not know yet wait this long for it to appear, then are given up.
WEBHOOK_PARKED_TTL_S = env.int("WEBHOOK_PARKED_TTL_S", default=7 * 24 * 3600)
WEBHOOK_PAYLOAD_RETENTION_DAYS = env.int("WEBHOOK_PAYLOAD_RETENTION_DAYS", default=30)
# The web process nudges the processor at most this often; the beat sweep catches the rest.
WEBHOOK_KICK_INTERVAL_S = env.float("WEBHOOK_KICK_INTERVAL_S", default=0.2)
WEBHOOK_PROCESS_BATCH = env.int("WEBHOOK_PROCESS_BATCH", default=500)
# Outbound: Standard Webhooks delays before attempts 1..10 (about 75.6 h in all), +-20 % jitter.
WEBHOOK_RETRY_SCHEDULE_S = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
WEBHOOK_RETRY_JITTER = 0.2
WEBHOOK_RETRY_AFTER_MAX_S = env.int("WEBHOOK_RETRY_AFTER_MAX_S", default=24 * 3600)
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=15.0)
WEBHOOK_CONNECT_TIMEOUT_S = env.float("WEBHOOK_CONNECT_TIMEOUT_S", default=5.0)
WEBHOOK_RESPONSE_MAX_BYTES = env.int("WEBHOOK_RESPONSE_MAX_BYTES", default=64 * 1024)
WEBHOOK_DISABLE_AFTER_S = env.int("WEBHOOK_DISABLE_AFTER_S", default=5 * 24 * 3600)
WEBHOOK_SECRET_GRACE_S = env.int("WEBHOOK_SECRET_GRACE_S", default=24 * 3600)
# The delivery pump: threads per worker process, and in-flight deliveries per endpoint, so one
# slow Tech Provider can hold at most WEBHOOK_ENDPOINT_CONCURRENCY of the pump's threads.
WEBHOOK_PUMP_THREADS = env.int("WEBHOOK_PUMP_THREADS", default=32)
WEBHOOK_ENDPOINT_CONCURRENCY = env.int("WEBHOOK_ENDPOINT_CONCURRENCY", default=8)
WEBHOOK_PUMP_BUDGET_S = env.float("WEBHOOK_PUMP_BUDGET_S", default=20.0)
# SSRF guard: plain http is refused outside DEBUG; loopback only when this says so (tests and the
# embedded run); private, link-local, multicast and metadata addresses never.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=DEBUG)
CELERY_BEAT_SCHEDULE["messaging-events-process"] = {  # backstop for the web process's nudges
    "task": "messaging.webhook_events_process",
    "schedule": 2.0,
}
CELERY_BEAT_SCHEDULE["messaging-deliveries-pump"] = {  # due retries and lost nudges
    "task": "messaging.deliveries_pump",
    "schedule": 2.0,
}
CELERY_BEAT_SCHEDULE["messaging-tech-provider-events"] = {  # onboarding's events for TPs
    "task": "messaging.tech_provider_events_dispatch",
    "schedule": 2.0,
}
CELERY_BEAT_SCHEDULE["messaging-parked-route"] = {  # parked events whose WABA now exists
    "task": "messaging.webhook_events_route_parked",
    "schedule": 10.0,
}
CELERY_BEAT_SCHEDULE["messaging-housekeeping"] = {  # auto-disable, expiry, pruning
    "task": "messaging.webhooks_housekeeping",
    "schedule": 60.0,
}

# ---------------------------------------------------------------- MESSAGES
# Sending, templates, inbound media and quality (issue 7); docs/messaging.md explains the design.
# Throughput per sending number (Meta: 80 mps, 20 for coexistence numbers, up to 1000 once
# upgraded); the limiter keeps HEADROOM of it, so network jitter cannot push a second over.
MESSAGE_THROUGHPUT_DEFAULT_MPS = env.int("MESSAGE_THROUGHPUT_DEFAULT_MPS", default=80)
MESSAGE_THROUGHPUT_COEXISTENCE_MPS = env.int("MESSAGE_THROUGHPUT_COEXISTENCE_MPS", default=20)
MESSAGE_THROUGHPUT_HIGH_MPS = env.int("MESSAGE_THROUGHPUT_HIGH_MPS", default=1000)
MESSAGE_THROUGHPUT_HEADROOM = env.float("MESSAGE_THROUGHPUT_HEADROOM", default=0.85)
# Meta's pair rate: one message per 6 s to one recipient, bursts of 45 borrowed from later.
MESSAGE_PAIR_INTERVAL_S = env.float("MESSAGE_PAIR_INTERVAL_S", default=6.0)
MESSAGE_PAIR_BURST = env.int("MESSAGE_PAIR_BURST", default=45)
# The limiter's shared state: Redis (every worker on every machine), else the database.
MESSAGE_LIMITER_REDIS_URL = env.str("MESSAGE_LIMITER_REDIS_URL", default=REDIS_URL)
MESSAGE_MAX_RECIPIENTS = env.int("MESSAGE_MAX_RECIPIENTS", default=100)  # dst joined by "<"
# The send pump: Graph calls in flight per worker process, and how long one run may last.
MESSAGE_SEND_THREADS = env.int("MESSAGE_SEND_THREADS", default=16)
MESSAGE_SEND_BUDGET_S = env.float("MESSAGE_SEND_BUDGET_S", default=20.0)
MESSAGE_SEND_LEASE_S = env.float("MESSAGE_SEND_LEASE_S", default=GRAPH_API_TIMEOUT_S + 60)
# Retryable Meta errors back off from BASE (exponential, half jitter) up to CAP, at most
# MAX_ATTEMPTS calls; a call without an answer waits UNKNOWN_WAIT for a status webhook first.
MESSAGE_RETRY_BASE_S = env.float("MESSAGE_RETRY_BASE_S", default=2.0)
MESSAGE_RETRY_CAP_S = env.float("MESSAGE_RETRY_CAP_S", default=300.0)
MESSAGE_SEND_MAX_ATTEMPTS = env.int("MESSAGE_SEND_MAX_ATTEMPTS", default=8)
MESSAGE_UNKNOWN_OUTCOME_WAIT_S = env.float("MESSAGE_UNKNOWN_OUTCOME_WAIT_S", default=30.0)
# Status callbacks to a message's `url`: delays before attempts 1..4 (Plivo: +60, +120, +240 s).
MESSAGE_CALLBACK_RETRY_SCHEDULE_S = [0, 60, 120, 240]
# Inbound media: where it is stored (a STORAGES alias) and the largest object fetched.
INBOUND_MEDIA_STORAGE = env.str("INBOUND_MEDIA_STORAGE", default="default")
INBOUND_MEDIA_MAX_BYTES = env.int("INBOUND_MEDIA_MAX_BYTES", default=100 * 1024 * 1024)
# Periodic reads from Meta: numbers' quality, limit and throughput; every WABA's templates.
MESSAGE_QUALITY_REFRESH_S = env.float("MESSAGE_QUALITY_REFRESH_S", default=3600.0)
MESSAGE_TEMPLATE_SYNC_S = env.float("MESSAGE_TEMPLATE_SYNC_S", default=6 * 3600.0)
CELERY_BEAT_SCHEDULE["messaging-messages-send"] = {  # backstop for the API's nudges, retries
    "task": "messaging.messages_send",
    "schedule": 1.0,
    "options": {"expires": 5.0},
}
CELERY_BEAT_SCHEDULE["messaging-messages-sweep"] = {  # expired leases and message_expiry
    "task": "messaging.messages_sweep",
    "schedule": 15.0,
}
CELERY_BEAT_SCHEDULE["messaging-status-callbacks"] = {  # Plivo-style callbacks due
    "task": "messaging.status_callbacks_send",
    "schedule": 2.0,
    "options": {"expires": 10.0},
}
CELERY_BEAT_SCHEDULE["messaging-inbound-media"] = {  # media not fetched yet, retries
    "task": "messaging.inbound_media_fetch",
    "schedule": 5.0,
    "options": {"expires": 10.0},
}
CELERY_BEAT_SCHEDULE["messaging-quality-refresh"] = {  # every MESSAGE_QUALITY_REFRESH_S (1 h)
    "task": "messaging.quality_refresh_all",
    "schedule": MESSAGE_QUALITY_REFRESH_S,
}
CELERY_BEAT_SCHEDULE["messaging-templates-sync"] = {  # every MESSAGE_TEMPLATE_SYNC_S (6 h)
    "task": "messaging.templates_sync_all",
    "schedule": MESSAGE_TEMPLATE_SYNC_S,
}

# ---------------------------------------------------------------- SANDBOX SETTINGS
# Simulator settings (issue 3) live here; docs/sandbox.md explains each. The runtime knobs
# (review delay, status delays, ...) are seeded from these into the SandboxConfig row, which the
# admin and POST /sandbox/control/config/ change while it runs.
SANDBOX_APP_NAME = env.str("SANDBOX_APP_NAME", default="Sandbox Partner App")
SANDBOX_PARTNER_BUSINESS_ID = env.str("SANDBOX_PARTNER_BUSINESS_ID", default="700000000000001")
SANDBOX_CONFIG_ID = env.str("SANDBOX_CONFIG_ID", default="800000000000001")
# Where the simulated Meta posts webhooks: <base>/webhooks/meta/ unless a WABA overrides it.
SANDBOX_WEBHOOK_BASE_URL = env.str("SANDBOX_WEBHOOK_BASE_URL", default=PUBLIC_BASE_URL).rstrip("/")
# "thread": a background thread per process delivers webhooks; "manual": only flushes do (tests).
SANDBOX_WEBHOOK_DISPATCH = env.str("SANDBOX_WEBHOOK_DISPATCH", default="thread")
SANDBOX_WEBHOOK_TIMEOUT_S = env.float("SANDBOX_WEBHOOK_TIMEOUT_S", default=10.0)
# Meta retries failed webhooks for days; the simulator retries on this (shorter) schedule.
SANDBOX_WEBHOOK_RETRY_DELAYS_S = env.list(
    "SANDBOX_WEBHOOK_RETRY_DELAYS_S", cast=float, default=[2.0, 10.0, 60.0, 300.0]
)
SANDBOX_CODE_TTL_S = env.int("SANDBOX_CODE_TTL_S", default=30)
SANDBOX_BUSINESS_TOKEN_TTL_S = env.int("SANDBOX_BUSINESS_TOKEN_TTL_S", default=60 * 24 * 3600)
SANDBOX_TEMPLATE_REVIEW_DELAY_S = env.float("SANDBOX_TEMPLATE_REVIEW_DELAY_S", default=5.0)
SANDBOX_DELIVERED_AFTER_MS = env.int("SANDBOX_DELIVERED_AFTER_MS", default=500)
SANDBOX_READ_AFTER_MS = env.int("SANDBOX_READ_AFTER_MS", default=1500)
SANDBOX_HANDSHAKE_TIMEOUT_S = env.float("SANDBOX_HANDSHAKE_TIMEOUT_S", default=5.0)
# How long a "timeout" fault holds a request when the fault names no latency.
SANDBOX_TIMEOUT_FAULT_S = env.float("SANDBOX_TIMEOUT_FAULT_S", default=GRAPH_API_TIMEOUT_S + 5)

# ---------------------------------------------------------------- OPERATIONS
# Health, logs, limits and shutdown (issue 9); docs/operations.md explains each setting.
# Every request gets an id (X-Request-Id, kept when sane, echoed) on its log lines and one access
# line; a body over its path's cap gets 413 before anything reads it (config/middleware.py).
MIDDLEWARE.insert(0, "config.middleware.RequestIdMiddleware")
MIDDLEWARE.insert(1, "config.middleware.BodySizeLimitMiddleware")
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)  # /v1/; /webhooks/: above
# Per-Tech-Provider API rate limit, sustained and burst (onboarding/api/throttling.py); 0 = off.
API_RATE_LIMIT_PER_S = env.float("API_RATE_LIMIT_PER_S", default=50.0)
API_RATE_LIMIT_BURST = env.int("API_RATE_LIMIT_BURST", default=100)
# /healthz: each live check (database, broker, heartbeats) answers within this or has failed.
HEALTHZ_TIMEOUT_S = env.float("HEALTHZ_TIMEOUT_S", default=2.0)
# Heartbeats (config/heartbeat.py) need a cache every process can read; the default cache is
# per-process memory on the embedded default, so that mode gets a file cache instead.
OPS_CACHE = "ops"
CACHES[OPS_CACHE] = (
    CACHES["default"]
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "ops-cache"),
    }
)
WORKER_HEARTBEAT_INTERVAL_S = env.float("WORKER_HEARTBEAT_INTERVAL_S", default=30.0)
WORKER_HEARTBEAT_STALE_S = env.float(
    "WORKER_HEARTBEAT_STALE_S", default=3 * WORKER_HEARTBEAT_INTERVAL_S
)
CELERY_BEAT_SCHEDULE["ops-beat-heartbeat"] = {  # every WORKER_HEARTBEAT_INTERVAL_S (30 s)
    "task": "ops.beat_heartbeat",
    "schedule": WORKER_HEARTBEAT_INTERVAL_S,
    "options": {"expires": WORKER_HEARTBEAT_INTERVAL_S},  # a late tick is a missed tick
}
# Reconciliation (onboarding/services/reconciliation.py): every active WABA is checked at Meta
# this often; a business token this close to its end counts as drift.
RECONCILE_INTERVAL_S = env.float("RECONCILE_INTERVAL_S", default=3600.0)
RECONCILE_TOKEN_WARN_S = env.int("RECONCILE_TOKEN_WARN_S", default=7 * 24 * 3600)
CELERY_BEAT_SCHEDULE["onboarding-reconcile"] = {  # every RECONCILE_INTERVAL_S (1 h)
    "task": "onboarding.wabas_reconcile",
    "schedule": RECONCILE_INTERVAL_S,
    "options": {"expires": RECONCILE_INTERVAL_S},
}
# SIGTERM to a worker is a warm shutdown: running tasks finish, nothing new starts. Where the
# platform SIGKILLs soon after SIGTERM, set REMAP_SIGTERM=SIGQUIT and this a little under its
# grace period: tasks get that long, then unfinished ones go back to the queue (acks_late).
# https://docs.celeryq.dev/en/stable/userguide/workers.html#soft-shutdown
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env.float("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", default=0.0)
# json: one object per line (production); plain: readable lines (development).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain")

# ---------------------------------------------------------------- LOGGING
# Every handler adds the bound ids (request, task, Tech Provider, WABA) and removes secrets; see
# config/logging.py. Celery workers use this too (config/celery.py, setup_logging).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "config.logging.ContextFilter"},
        "redact": {"()": "config.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "plain": {"()": "config.logging.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console and mail_admins handlers would write a second, unfiltered copy.
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
    },
}
