"""Nudges: cheap hints that there is work; the database rows are the work itself.

A web process must not publish a Celery message per Meta POST (that costs more than the INSERT),
so each process publishes at most one nudge per WEBHOOK_KICK_INTERVAL_S per task, after commit,
without broker retries; the beat schedule runs the same tasks every few seconds, so a nudge that
is skipped, debounced or lost delays work by at most that period and never loses it.
"""

import logging
import threading
import time

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

PROCESS_EVENTS = "messaging.webhook_events_process"
PUMP_DELIVERIES = "messaging.deliveries_pump"

_lock = threading.Lock()
_last_sent: dict[str, float] = {}


def _recent(task_name: str, now: float) -> bool:
    return now - _last_sent.get(task_name, float("-inf")) < settings.WEBHOOK_KICK_INTERVAL_S


def _send(task_name: str) -> None:
    now = time.monotonic()
    with _lock:
        if _recent(task_name, now):
            return
        _last_sent[task_name] = now
    try:
        current_app.send_task(task_name, retry=False)
    except Exception:  # the broker being down must never fail a request; beat catches up
        logger.warning("could not nudge %s; the periodic sweep will pick the work up", task_name)


def nudge(task_name: str) -> None:
    """Publish `task_name` after the current transaction commits (debounced per process)."""
    if _recent(task_name, time.monotonic()):
        return  # most calls end here, without a commit hook; _send checks again under the lock
    transaction.on_commit(lambda: _send(task_name))
