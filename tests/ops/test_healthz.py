"""GET /healthz against the real PostgreSQL and Redis, and against dead and silent ones."""

import socket
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import time_machine
from django.db import connections
from django.test import Client

from config import heartbeat
from config.health import GRAPH_API_END_OF_LIFE, graph_api_version_warning

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 18540))
        listener.listen(16)
        yield 18540


@pytest.fixture
def alive() -> None:
    heartbeat.worker_heartbeat_write(hostname="celery@web-1")
    heartbeat.beat_heartbeat_write()


def get(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_it_answers_200_ok_when_everything_answers(client: Client, alive: None) -> None:
    status, body = get(client)

    assert status == 200
    assert body["warnings"] == []
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["broker"] == {
        "ok": True,
        "transport": "redis",
        "latency_ms": pytest.approx(0, abs=2000),
    }
    assert checks["workers"]["ok"] is True
    assert checks["workers"]["alive"] == 1
    assert checks["beat"]["ok"] is True
    assert checks["sandbox"] == {"enabled": True}
    assert checks["graph_api"] == {"version": "v26.0", "end_of_life": None, "ok": True}


def test_it_answers_503_when_the_database_is_down(
    client: Client, alive: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = {**connections.settings["default"], "PORT": str(closed_port())}
    monkeypatch.setitem(connections.settings, "default", dead)

    status, body = get(client)

    assert status == 503
    assert body["status"] == "down"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["broker"]["ok"] is True


def test_it_answers_503_when_the_broker_is_down(client: Client, alive: None, settings: Any) -> None:
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"

    status, body = get(client)

    assert status == 503
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"] == "OperationalError"
    assert body["checks"]["database"]["ok"] is True
    assert "hunter2" not in str(body)
    assert "127.0.0.1" not in str(body)


def test_a_silent_broker_and_database_cost_at_most_the_timeout(
    client: Client, settings: Any, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.HEALTHZ_TIMEOUT_S = 0.5
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_port}/0"
    silent = {**connections.settings["default"], "HOST": "127.0.0.1", "PORT": str(silent_port)}
    monkeypatch.setitem(connections.settings, "default", silent)

    started = time.monotonic()
    status, body = get(client)
    elapsed = time.monotonic() - started

    assert status == 503
    assert body["checks"]["broker"] == {
        "ok": False,
        "error": "timeout",
        "latency_ms": body["checks"]["broker"]["latency_ms"],
    }
    assert body["checks"]["database"]["error"] == "timeout"
    assert elapsed < 2.0  # a hung peer would otherwise hold the request for minutes


def test_missing_heartbeats_warn_but_keep_200(client: Client) -> None:
    status, body = get(client)

    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["workers"] == {"ok": False, "alive": 0, "last_seen_s": None}
    assert body["checks"]["beat"] == {"ok": False, "last_tick_s": None}
    assert len(body["warnings"]) == 2


def test_a_stale_worker_heartbeat_counts_as_no_worker(client: Client, settings: Any) -> None:
    now = time.time()
    heartbeat.worker_heartbeat_write(
        hostname="celery@gone", now=now - settings.WORKER_HEARTBEAT_STALE_S - 5
    )
    heartbeat.worker_heartbeat_write(hostname="celery@here", now=now)
    heartbeat.beat_heartbeat_write(now=now)

    _, body = get(client)
    assert body["checks"]["workers"]["alive"] == 1

    heartbeat.worker_heartbeat_remove(hostname="celery@here")
    _, body = get(client)
    assert body["checks"]["workers"]["alive"] == 0
    assert body["checks"]["workers"]["last_seen_s"] >= settings.WORKER_HEARTBEAT_STALE_S


def test_it_warns_when_the_pinned_graph_version_nears_its_end(
    client: Client, alive: None, settings: Any
) -> None:
    settings.GRAPH_API_VERSION = "v20.0"  # ends 2026-09-24
    with time_machine.travel(date(2026, 6, 1), tick=False):
        status, body = get(client)

    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["graph_api"] == {
        "version": "v20.0",
        "end_of_life": "2026-09-24",
        "ok": False,
    }
    assert body["warnings"] == [
        "Graph API v20.0 reaches its end of life on 2026-09-24; pin a newer version before then."
    ]


@pytest.mark.parametrize(
    ("version", "today", "expected"),
    [
        ("v25.0", date(2027, 12, 31), None),  # 210 days left
        ("v25.0", date(2028, 2, 1), "reaches its end of life on 2028-07-29"),
        ("v19.0", date(2026, 5, 21), "reached its end of life on 2026-05-21"),
        ("v26.0", date(2030, 1, 1), None),  # not announced yet
        ("v99.0", date(2026, 1, 1), "is not in the version table"),
    ],
)
def test_graph_version_warnings(version: str, today: date, expected: str | None) -> None:
    warning = graph_api_version_warning(version, today)

    if expected is None:
        assert warning is None
    else:
        assert warning is not None
        assert expected in warning


def test_the_version_table_knows_the_default_version(settings: Any) -> None:
    assert settings.GRAPH_API_VERSION in GRAPH_API_END_OF_LIFE


def test_it_reports_the_sandbox_and_warns_when_forced_on_in_production(
    client: Client, alive: None, settings: Any
) -> None:
    settings.SANDBOX_ENABLED = False
    assert get(client)[1]["checks"]["sandbox"] == {"enabled": False}

    settings.SANDBOX_ENABLED = True
    assert get(client)[1]["warnings"] == []

    settings.SANDBOX_FORCE = True  # how the sandbox runs with DEBUG off
    _, body = get(client)
    assert body["checks"]["sandbox"] == {"enabled": True}
    assert body["warnings"] == [
        "The Meta sandbox is forced on (SANDBOX_FORCE): nothing reaches Meta."
    ]


def test_it_answers_get_and_head_only(client: Client, alive: None) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
