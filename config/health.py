"""GET /healthz: is this deployment able to work? For load balancers, monitors and operators.

The database and the broker are checked live, in parallel, each bounded by HEALTHZ_TIMEOUT_S;
either failing answers 503 (this web node cannot take work). Workers, beat, the sandbox and the
pinned Graph API version only add warnings (200, status "degraded"): taking a web node out of a
load balancer would not bring a worker back. The body names no host, URL or error text, only
error classes, because the endpoint is public; details go to the log.
"""

import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection

from config import heartbeat

logger = logging.getLogger(__name__)

# Graph API versions and the day each stops working (None: not announced yet).
# Source: Meta's Graph API changelog, copied in ../shared/reference/meta-platform.md section 9;
# a version lives until two years after its successor's release. Add each new version here.
GRAPH_API_END_OF_LIFE: dict[str, date | None] = {
    "v26.0": None,
    "v25.0": date(2028, 7, 29),
    "v24.0": date(2028, 2, 18),
    "v23.0": date(2027, 10, 8),
    "v22.0": date(2027, 5, 20),
    "v21.0": date(2027, 1, 21),
    "v20.0": date(2026, 9, 24),
    "v19.0": date(2026, 5, 21),
}
GRAPH_API_WARN_BEFORE = timedelta(days=183)  # six months

# Checks run here so that a hung socket holds a pool thread, never the request. A few threads
# suffice: a probe stuck past its deadline keeps its thread only until its own socket timeout.
_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="healthz")

Check = dict[str, Any]


# ---------------------------------------------------------------- live checks


def _database_check() -> Check:
    """A fresh connection (not this thread's pooled one) and SELECT 1."""
    params = dict(connections.settings["default"])
    if params["ENGINE"] == "django.db.backends.postgresql":
        timeout = max(1, round(settings.HEALTHZ_TIMEOUT_S))
        params["OPTIONS"] = {**params.get("OPTIONS", {}), "connect_timeout": timeout}
    wrapper = load_backend(params["ENGINE"]).DatabaseWrapper(params, "default")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        wrapper.close()
    return {"ok": True}


def _broker_check() -> Check:
    """Connect to the Celery broker and open a channel (Redis answers a PING)."""
    timeout = float(settings.HEALTHZ_TIMEOUT_S)
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options.update(socket_timeout=timeout, socket_connect_timeout=timeout, max_retries=1)
    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options
    ) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        channel: Any = connection.channel()  # opening a Redis channel sends a PING
        channel.close()
        transport = connection.transport_cls
    return {"ok": True, "transport": str(transport)}


def _heartbeat_check() -> Check:
    workers, beat = heartbeat.heartbeats_read()
    now = time.time()
    stale = float(settings.WORKER_HEARTBEAT_STALE_S)
    alive = [at for at in workers.values() if now - at <= stale]
    beat_age = None if beat is None else round(now - beat, 1)
    return {
        "workers": {
            "ok": bool(alive),
            "alive": len(alive),
            "last_seen_s": round(now - max(workers.values()), 1) if workers else None,
        },
        "beat": {"ok": beat_age is not None and beat_age <= stale, "last_tick_s": beat_age},
    }


def _bounded(checks: dict[str, Callable[[], Check]]) -> dict[str, Check]:
    """Run the checks in parallel; each answers within the timeout or counts as failed."""
    futures = {
        name: _POOL.submit(contextvars.copy_context().run, check) for name, check in checks.items()
    }
    deadline = time.monotonic() + float(settings.HEALTHZ_TIMEOUT_S)
    results: dict[str, Check] = {}
    for name, future in futures.items():
        started = time.monotonic()
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            logger.warning("healthz: %s gave no answer in time", name)
            results[name] = {"ok": False, "error": "timeout"}
        except Exception as exc:  # one line, no trace: load balancers probe every few seconds
            logger.warning("healthz: %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
        results[name].setdefault("latency_ms", round((time.monotonic() - started) * 1000))
    return results


# ---------------------------------------------------------------- static checks


def graph_api_version_warning(version: str, today: date) -> str | None:
    """A warning when the pinned version is unknown, or ends within six months (or has ended)."""
    if version not in GRAPH_API_END_OF_LIFE:
        return (
            f"Graph API {version} is not in the version table; its end of life is unknown. "
            "Check Meta's changelog and update config/health.py."
        )
    end = GRAPH_API_END_OF_LIFE[version]
    if end is None or end - today > GRAPH_API_WARN_BEFORE:
        return None
    if end <= today:
        return f"Graph API {version} reached its end of life on {end}; pin a newer version."
    return f"Graph API {version} reaches its end of life on {end}; pin a newer version before then."


def _graph_check(today: date) -> Check:
    version = str(settings.GRAPH_API_VERSION)
    end = GRAPH_API_END_OF_LIFE.get(version)
    warning = graph_api_version_warning(version, today)
    return {"version": version, "end_of_life": end.isoformat() if end else None, "ok": not warning}


# ---------------------------------------------------------------- the view


def _warnings(checks: dict[str, Check], today: date) -> list[str]:
    found = []
    if not checks["workers"].get("ok"):
        found.append("No Celery worker heartbeat within WORKER_HEARTBEAT_STALE_S.")
    if not checks["beat"].get("ok"):
        found.append("No beat tick within WORKER_HEARTBEAT_STALE_S: periodic work is not running.")
    if checks["sandbox"]["enabled"] and settings.SANDBOX_FORCE:
        found.append("The Meta sandbox is forced on (SANDBOX_FORCE): nothing reaches Meta.")
    graph = graph_api_version_warning(str(settings.GRAPH_API_VERSION), today)
    if graph:
        found.append(graph)
    return found


def health_report() -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of /healthz."""
    live = _bounded(
        {"database": _database_check, "broker": _broker_check, "heartbeats": _heartbeat_check}
    )
    beats = live.pop("heartbeats")
    beat_error = {"ok": False, "error": beats.get("error")} if "error" in beats else None
    today = timezone.now().date()
    checks: dict[str, Check] = {
        **live,
        "workers": beat_error or beats["workers"],
        "beat": beat_error or beats["beat"],
        "sandbox": {"enabled": bool(settings.SANDBOX_ENABLED)},
        "graph_api": _graph_check(today),
    }
    warnings = _warnings(checks, today)
    down = not (checks["database"]["ok"] and checks["broker"]["ok"])
    status = "down" if down else ("degraded" if warnings else "ok")
    return (503 if down else 200), {"status": status, "checks": checks, "warnings": warnings}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database and broker answer; 503 otherwise. See docs/operations.md."""
    code, body = health_report()
    return JsonResponse(body, status=code)
