"""Liveness marks for /healthz: every worker's heartbeat and the beat scheduler's tick.

Two marks, because they fail apart:
- a worker bootstep writes `{hostname: unix time}` every WORKER_HEARTBEAT_INTERVAL_S from the
  worker's main process (its event-loop timer), and removes its entry on shutdown;
- beat enqueues `ops.beat_heartbeat` every BEAT_HEARTBEAT_INTERVAL_S and whichever worker runs it
  stamps the time, so a stale tick means periodic work (sweeps, pumps) is not getting through:
  beat is down, or the queue is backed up.
Both live in the OPS_CACHE cache: Redis in production, a file cache on the embedded default, so
every process on every machine sees them. Wall-clock times, so the machines' clocks must agree to
within a few seconds (NTP).
"""

import logging
import time
from typing import Any

from celery import bootsteps, shared_task
from django.conf import settings
from django.core.cache import BaseCache, caches

logger = logging.getLogger(__name__)

WORKERS_KEY = "ops:heartbeat:workers"
BEAT_KEY = "ops:heartbeat:beat"


def _cache() -> BaseCache:
    return caches[settings.OPS_CACHE]


def worker_heartbeat_write(*, hostname: str, now: float | None = None) -> None:
    """Stamp this worker and drop entries long dead (crashed workers never remove theirs).

    Read-modify-write without a lock: two workers writing in the same instant can lose one
    stamp, which the next beat (one interval later) restores; a host only looks dead after
    WORKER_HEARTBEAT_STALE_S, three intervals by default.
    """
    now = time.time() if now is None else now
    forget_after = 10 * float(settings.WORKER_HEARTBEAT_STALE_S)
    hosts: dict[str, float] = _cache().get(WORKERS_KEY) or {}
    hosts = {host: at for host, at in hosts.items() if now - at < forget_after}
    hosts[hostname] = now
    _cache().set(WORKERS_KEY, hosts, timeout=None)


def worker_heartbeat_remove(*, hostname: str) -> None:
    """Forget a worker that is shutting down cleanly."""
    hosts: dict[str, float] = _cache().get(WORKERS_KEY) or {}
    if hosts.pop(hostname, None) is not None:
        _cache().set(WORKERS_KEY, hosts, timeout=None)


def beat_heartbeat_write(*, now: float | None = None) -> None:
    _cache().set(BEAT_KEY, time.time() if now is None else now, timeout=None)


def heartbeats_read() -> tuple[dict[str, float], float | None]:
    """Every worker's last heartbeat and the last beat tick (unix times)."""
    found = _cache().get_many([WORKERS_KEY, BEAT_KEY])
    return dict(found.get(WORKERS_KEY) or {}), found.get(BEAT_KEY)


def _beat_safely(hostname: str) -> None:
    try:
        worker_heartbeat_write(hostname=hostname)
    except Exception:  # the cache is down: /healthz will say so; the worker carries on
        logger.warning("worker heartbeat not written", exc_info=True)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's heartbeat from its main process's timer while the worker runs.

    The timer runs in the event loop that also receives tasks, so a stamp proves the worker is
    taking work, not merely that its process exists. With `--pool solo` a long task delays the
    stamp; use prefork or threads in production.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        _beat_safely(parent.hostname)
        interval = float(settings.WORKER_HEARTBEAT_INTERVAL_S)
        self.tref = parent.timer.call_repeatedly(interval, _beat_safely, (parent.hostname,))

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            worker_heartbeat_remove(hostname=parent.hostname)
        except Exception:
            logger.warning("worker heartbeat not removed", exc_info=True)

    def terminate(self, parent: Any) -> None:
        self.stop(parent)


@shared_task(name="ops.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Run by any worker on beat's schedule: stamps the time for /healthz."""
    beat_heartbeat_write()
