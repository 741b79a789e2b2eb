"""Test-only tasks that tests/ops/test_worker_shutdown.py loads into a real worker (`-I`).

They run on the real `config` Celery app, so with its settings: acks_late,
reject_on_worker_lost, prefetch 1, JSON logs with the task id.
"""

import logging
import os
import time

import redis
from django.conf import settings

from config.celery import app

logger = logging.getLogger(__name__)


def marks() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@app.task(name="tests.ops.slow_step")
def slow_step(run_key: str, first_run_s: float) -> None:
    """Counts its starts and finishes under run_key; only the first run is slow."""
    store = marks()
    attempt = int(store.incr(f"{run_key}:starts"))
    store.set(f"{run_key}:pid", os.getpid())
    logger.info("slow step started", extra={"attempt": attempt})
    time.sleep(first_run_s if attempt == 1 else 0.2)
    store.incr(f"{run_key}:finishes")
    logger.info("slow step finished", extra={"attempt": attempt})
