"""Where the benchmark runs and how each server is configured: ports, databases, environments.

Everything listens on 127.0.0.1 in the range 18400-18499. The platform runs as production would
(DEBUG off, explicit secrets, PostgreSQL, Redis, gunicorn, Celery prefork workers); the floors
run under the very same gunicorn command line. Secrets are made fresh for every run and live
only in the environment of the processes started here.
"""

import base64
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
OUT_DIR = ROOT / "var" / "bench"
LOG_DIR = OUT_DIR / "logs"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
PLOT_FILE = ROOT / "docs" / "benchmarks.png"

HOST = "127.0.0.1"
PORT_PLATFORM = 18400
PORT_REFERENCE = 18401
PORT_PYWA = 18402
PORT_RECEIVER = 18403
PORT_SANDBOX = 18404

RECEIVER_URL = f"http://{HOST}:{PORT_RECEIVER}"
PLATFORM_URL = f"http://{HOST}:{PORT_PLATFORM}"

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = "platform_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_CACHE_URL = "redis://127.0.0.1:6379/8"
REDIS_BROKER_URL = "redis://127.0.0.1:6379/9"

# The platform's Procfile web command (2 workers x 8 threads), without the access log (the floors
# and the platform both run without it; it would cost each the same per request).
GUNICORN_ARGS = ["--workers", "2", "--threads", "8", "--log-level", "warning", "--keep-alive", "5"]
# Issue 8 target 2 is "with 2 worker processes".
CELERY_CONCURRENCY = 2
# The workers run niced: on a box they share with the web server, Meta's webhooks get answered
# first and the backlog is worked off with the CPU the web server leaves (a deployment choice,
# reported with the figures; on separate machines it does not matter).
CELERY_NICE = 10
# wrk as in shared/reference/perf-anchors.md: 2 threads, 32 connections, 5 s timeout.
WRK_THREADS = 2
WRK_CONNECTIONS = 32

BENCH_WABA_ID = "190000000000001"
BENCH_PHONE_NUMBER_ID = "191000000000001"
BENCH_DISPLAY_NUMBER = "15550001111"


@dataclass(frozen=True)
class Durations:
    """How long and how much each phase runs; `quick` is a seconds-long smoke."""

    warm_s: int  # wrk takes whole seconds
    measure_s: int
    rounds: int  # alternating reference / platform ingest measurements
    paced_s: float
    forward_n: int
    onboardings: int
    drain_cap_s: float
    backlog_window_s: float  # how long the backlog phase drains before the rest is discarded
    onboarding_cap_s: float
    settle_cap_s: float  # how long a phase waits for the box to calm down after the one before
    dispatch_numbers: int  # numbers sending at once in the dispatch phase
    dispatch_per_number: int  # messages queued for each (100: about 24 s at 0.85 x 5/s)
    max_rate: int  # bodies generated per wrk thread: max_rate * duration / threads

    @classmethod
    def full(cls) -> "Durations":
        return cls(
            warm_s=5,
            measure_s=10,
            rounds=2,
            paced_s=15,
            forward_n=5000,
            onboardings=200,
            drain_cap_s=150,
            backlog_window_s=30,
            onboarding_cap_s=300,
            settle_cap_s=30,
            dispatch_numbers=4,
            dispatch_per_number=100,
            max_rate=5000,
        )

    @classmethod
    def quick(cls) -> "Durations":
        return cls(
            warm_s=1,
            measure_s=2,
            rounds=1,
            paced_s=2,
            forward_n=200,
            onboardings=5,
            drain_cap_s=30,
            backlog_window_s=4,
            onboarding_cap_s=60,
            settle_cap_s=3,
            dispatch_numbers=4,
            dispatch_per_number=12,
            max_rate=5000,
        )


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Secrets:
    """Made fresh per run; never written to a log or to the results."""

    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    field_keys: str = field(default_factory=_fernet_key)
    meta_app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    system_user_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def platform_env(s: Secrets, *, meta: dict[str, str] | None = None) -> dict[str, str]:
    """Production-like settings: DEBUG off, every secret explicit, PostgreSQL and Redis.

    `meta` replaces the Meta app settings (the onboarding phase gives the sandbox's app, whose
    Graph API then answers at the sandbox server, as Meta's would); the sandbox itself stays off.
    """
    env = {
        "DEBUG": "False",
        "SECRET_KEY": s.secret_key,
        "FIELD_ENCRYPTION_KEYS": s.field_keys,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": f"http://{HOST}:{PORT_PLATFORM}",
        "DATABASE_URL": DATABASE_URL,
        "CONN_MAX_AGE": "60",
        "REDIS_URL": REDIS_CACHE_URL,
        "CELERY_BROKER_URL": REDIS_BROKER_URL,
        "LOG_LEVEL": "WARNING",
        # Deliveries go to the local receiver over plain http on loopback: allowed for the bench
        # only (both default off outside DEBUG).
        "WEBHOOK_ALLOW_HTTP": "True",
        "WEBHOOK_ALLOW_LOOPBACK": "True",
        "SANDBOX_ENABLED": "False",
        # The per-Tech-Provider API limit (50 requests/s by default) is a policy, not a cost:
        # it is raised so the send phase measures the path. Each request still pays its check.
        "API_RATE_LIMIT_PER_S": "1000000",
        "API_RATE_LIMIT_BURST": "1000000",
        "META_APP_ID": "100000000000099",
        "META_APP_SECRET": s.meta_app_secret,
        "META_SYSTEM_USER_TOKEN": s.system_user_token,
        "META_CREDIT_LINE_ID": "900000000000099",
        "META_WEBHOOK_VERIFY_TOKEN": s.verify_token,
        "GRAPH_API_BASE_URL": f"http://{HOST}:{PORT_SANDBOX}/sandbox/graph",
    }
    env.update(meta or {})
    return env


def sandbox_server_env(s: Secrets) -> dict[str, str]:
    """The sandbox (Meta's stand-in) as its own server; SANDBOX_FORCE since DEBUG is off."""
    return {
        **platform_env(s),
        "SANDBOX_ENABLED": "True",
        "SANDBOX_FORCE": "True",
        "PUBLIC_BASE_URL": f"http://{HOST}:{PORT_SANDBOX}",
        "SANDBOX_WEBHOOK_BASE_URL": f"http://{HOST}:{PORT_PLATFORM}",
    }


def reference_env(s: Secrets) -> dict[str, str]:
    """The reference Django project: same database, same app secret, same gunicorn command."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.refsite.settings",
        "SECRET_KEY": s.secret_key,
        "DATABASE_URL": DATABASE_URL,
        "META_APP_SECRET": s.meta_app_secret,
    }


def base_env() -> dict[str, str]:
    """The parent environment minus anything that would steer Django, Celery or the database."""
    drop = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("META_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env
