"""Fixtures of the end-to-end suite: one stack (server, beat, workers) per module."""

import os
from collections.abc import Iterator

import pytest
import redis
import requests
from django.conf import settings
from django.db import connections

from tests.e2e.stack import BIN, PORTS, Stack, free_port, spawn, stop, wait_for


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The module's stack; a module may set `STACK_ENV` to add or override variables, and
    `STACK_PORTS` (a range) to serve from its own ports."""
    db = connections["default"].settings_dict
    port = free_port(getattr(request.module, "STACK_PORTS", PORTS))
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.REDIS_URL,
        "PUBLIC_BASE_URL": url,
        "GRAPH_API_BASE_URL": f"{url}/sandbox/graph",
        "SANDBOX_ENABLED": "True",
        "SANDBOX_WEBHOOK_DISPATCH": "manual",  # no webhooks: only the pipeline talks to Meta
        "PIPELINE_RETRY_BASE_S": "0.2",
        "PIPELINE_SWEEP_INTERVAL_S": "1",
        "PIPELINE_STALE_S": "5",
        "PIPELINE_CRASH_AFTER": "",
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        **getattr(request.module, "STACK_ENV", {}),
    }
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery", "unacked", "unacked_index")
    server = spawn(
        [
            str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", "16",
            # No --access-logfile: gunicorn's access lines carry query strings (Meta's
            # hub.verify_token, the code exchange's client_secret); config.request logs requests.
            "--timeout", "60",
            "--keep-alive", "75",  # as the Procfile: the SDK's pooled connection is reused
        ],
        env,
        logs / "gunicorn.log",
    )  # fmt: skip
    beat = spawn(
        [
            str(BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
            "-s", str(logs / "beat-schedule"), "--pidfile=",
        ],
        env,
        logs / "beat.log",
    )  # fmt: skip

    def server_up() -> bool:
        try:
            return requests.get(f"{url}/sandbox/control/faults/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    the_stack = Stack(url=url, env=env, logs=logs)
    try:
        wait_for(server_up, timeout=30, what="gunicorn")
        yield the_stack
    finally:
        the_stack.stop_workers()
        stop(beat)
        stop(server)
        broker.delete("celery", "unacked", "unacked_index")
