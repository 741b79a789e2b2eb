"""The delivery pump: sends due deliveries concurrently and records every attempt in batches.

A pump runs in a worker process (the `deliveries_pump` task; several may run at once). It
claims due rows with `SELECT ... FOR UPDATE SKIP LOCKED` and a lease, in chunks, into a local
backlog per Tech Provider (so two pumps never take the same row, and a crashed pump's rows come
back when the lease ends), sends them on a thread pool through one shared `Sender` (keep-alive
connections per endpoint), and writes attempts and new states a batch at a time: one INSERT of
attempts and one UPDATE (guarded by the lease owner) per ~100 ms, instead of a task, a database
connection and three statements per delivery. Unsent backlog is handed back when the pump's
time budget ends.

Isolation: at most WEBHOOK_ENDPOINT_CONCURRENCY deliveries per Tech Provider are in flight in a
pump, and at most _BACKLOG_FACTOR times that many claimed; a Tech Provider at that limit is left
out of the next claims, so a slow or hanging endpoint holds a few threads, for at most
WEBHOOK_TIMEOUT_S each, while the others keep flowing. Threads only do HTTP; every database
access stays on the pump's own thread.
"""

import logging
import secrets
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from messaging import signing
from messaging.models import Delivery, DeliveryAttempt
from messaging.outbound import Sender, SendResult
from messaging.services.batch_effects import db_value, queue_scan_in_index_order
from messaging.services.deliveries import NO_URL, retry_delay_s
from messaging.services.endpoints import endpoint_disable, endpoint_health_record, signing_secrets
from onboarding import selectors as onboarding_selectors

logger = logging.getLogger(__name__)

_FLUSH_EVERY = 200
_FLUSH_INTERVAL_S = 0.1
_CONFIG_TTL_S = 2.0
_WRITE_TRIES = 5
_BACKLOG_FACTOR = 8  # rows claimed ahead per endpoint, in multiples of its concurrency
_CLAIM_INTERVAL_S = 0.05
_UPDATE_SQL = (
    "UPDATE messaging_delivery SET state = %s, attempts = %s, next_attempt_at = %s, "
    "last_attempt_at = %s, last_status_code = %s, last_error = %s, "
    "succeeded_at = COALESCE(%s, succeeded_at), finished_at = %s, lease_owner = '', "
    "lease_expires_at = NULL, updated_at = %s WHERE id = %s AND lease_owner = %s"
)


_UPDATE_FROM_VALUES = (
    "UPDATE messaging_delivery AS d SET state = v.state, attempts = v.attempts, "
    "next_attempt_at = v.next_at, last_attempt_at = v.attempt_at, last_status_code = v.code, "
    "last_error = v.error, succeeded_at = COALESCE(v.succeeded_at, d.succeeded_at), "
    "finished_at = v.finished_at, lease_owner = '', lease_expires_at = NULL, "
    "updated_at = v.now FROM (VALUES {rows}) AS v(state, attempts, next_at, attempt_at, code, "
    "error, succeeded_at, finished_at, now, id, owner) "
    "WHERE d.id = v.id AND d.lease_owner = v.owner"
)
_STATE_TYPES = (
    "text",
    "int",
    "timestamptz",
    "timestamptz",
    "int",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "bigint",
    "text",
)


@dataclass(frozen=True)
class Claimed:
    id: int
    tech_provider_id: int
    webhook_id: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Endpoint:
    url: str
    secrets: tuple[str, ...]
    disabled_reason: str | None


@dataclass(frozen=True)
class Sent:
    claimed: Claimed
    url: str
    started_at: datetime
    finished_at: datetime
    result: SendResult


@dataclass
class PumpStats:
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


_sender: Sender | None = None


def shared_sender() -> Sender:
    """One Sender per process, so keep-alive connections outlive a pump run."""
    global _sender
    if _sender is None:
        _sender = Sender()
    return _sender


def _next_state(sent: Sent) -> tuple[str, datetime | None, datetime | None]:
    """(state, next attempt, finished at) after this attempt."""
    result, now = sent.result, sent.finished_at
    if result.succeeded:
        return Delivery.State.SUCCEEDED, None, now
    if result.outcome == DeliveryAttempt.Outcome.NOT_SENT or result.status_code == 410:
        return Delivery.State.FAILED, None, now
    delay = retry_delay_s(sent.claimed.attempts + 1)
    if delay is None:
        return Delivery.State.DEAD, None, now
    if result.retry_after_s is not None:
        delay = max(delay, float(min(result.retry_after_s, settings.WEBHOOK_RETRY_AFTER_MAX_S)))
    return Delivery.State.PENDING, now + timedelta(seconds=delay), None


def _write_states(updates: list[tuple[Any, ...]]) -> None:
    """New states, each guarded by this pump's lease: one statement on PostgreSQL."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(_UPDATE_SQL, [tuple(db_value(v) for v in row) for row in updates])
            return
        row = "(" + ", ".join(f"%s::{t}" for t in _STATE_TYPES) + ")"
        sql = _UPDATE_FROM_VALUES.format(rows=", ".join([row] * len(updates)))
        cursor.execute(sql, [value for update in updates for value in update])


def _attempt_row(sent: Sent) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=sent.claimed.id,
        number=sent.claimed.attempts + 1,
        started_at=sent.started_at,
        duration_ms=sent.result.duration_ms,
        url=sent.url[:2000],
        outcome=sent.result.outcome,
        status_code=sent.result.status_code,
        error=sent.result.error,
        response_excerpt=sent.result.excerpt,
    )


def _record_endpoint(tech_provider_id: int, sent: list[Sent], now: datetime) -> None:
    if any(s.result.status_code == 410 for s in sent):
        endpoint_disable(
            tech_provider_id=tech_provider_id, reason="the endpoint answered 410 Gone", now=now
        )
        return
    successes = [s.finished_at for s in sent if s.result.succeeded]
    last_success = successes[-1] if successes else None
    after = [
        s.finished_at
        for s in sent
        if not s.result.succeeded and (last_success is None or s.finished_at > last_success)
    ]
    endpoint_health_record(
        tech_provider_id=tech_provider_id,
        last_success_at=last_success,
        first_failure_after_success=after[0] if after else None,
        failures=len(after),
        now=now,
    )


class Pump:
    def __init__(self, *, sender: Sender | None = None, budget_s: float | None = None) -> None:
        self.sender = sender or shared_sender()
        self.threads = int(settings.WEBHOOK_PUMP_THREADS)
        self.per_endpoint = int(settings.WEBHOOK_ENDPOINT_CONCURRENCY)
        self.budget_s = settings.WEBHOOK_PUMP_BUDGET_S if budget_s is None else budget_s
        self.owner = secrets.token_hex(8)
        self.stats = PumpStats()
        self._in_flight: dict[Future[Sent], Claimed] = {}
        self._per_tp: Counter[int] = Counter()  # in flight, per Tech Provider
        self._held: Counter[int] = Counter()  # claimed (backlog and in flight)
        self._backlog: defaultdict[int, deque[Claimed]] = defaultdict(deque)
        self._results: list[Sent] = []
        self._endpoints: dict[int, Endpoint] = {}
        self._endpoints_at = 0.0

    # ---- claiming
    def _claim(self, limit: int) -> int:
        """Lease up to `limit` due rows into the local backlog; how many were taken.

        A Tech Provider holds at most per_endpoint * _BACKLOG_FACTOR claimed rows here, and one
        at that limit is left out of the query, so the claim always finds others' work.
        """
        now = timezone.now()
        cap = self.per_endpoint * _BACKLOG_FACTOR
        saturated = [tp for tp, n in self._held.items() if n >= cap]
        lease = now + timedelta(
            seconds=settings.WEBHOOK_TIMEOUT_S * (_BACKLOG_FACTOR + 2) + self.budget_s
        )
        with transaction.atomic():
            queue_scan_in_index_order()
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
                .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
                .exclude(tech_provider_id__in=saturated)
                .order_by("next_attempt_at")
                .values_list("id", "tech_provider_id", "webhook_id", "body", "attempts")[:limit]
            )
            taken = []
            for row in rows:
                claimed = Claimed(*row)
                if self._held[claimed.tech_provider_id] < cap:
                    self._held[claimed.tech_provider_id] += 1
                    self._backlog[claimed.tech_provider_id].append(claimed)
                    taken.append(claimed.id)
            Delivery.objects.filter(id__in=taken).update(
                lease_owner=self.owner, lease_expires_at=lease
            )
        return len(taken)

    def _release_backlog(self) -> None:
        """Give claimed but unsent rows back at once (instead of when their lease ends)."""
        ids = [c.id for queue in self._backlog.values() for c in queue]
        for claimed in (c for queue in self._backlog.values() for c in queue):
            self._held[claimed.tech_provider_id] -= 1
        self._backlog.clear()
        if ids:
            Delivery.objects.filter(id__in=ids, lease_owner=self.owner).update(
                lease_owner="", lease_expires_at=None
            )

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        """Start sends from the backlog while threads and per-endpoint slots allow."""
        for tp_id, queue in self._backlog.items():
            while (
                queue
                and self._per_tp[tp_id] < self.per_endpoint
                and len(self._in_flight) < self.threads
            ):
                claimed = queue.popleft()
                self._per_tp[tp_id] += 1
                future = pool.submit(self._send, claimed, self._endpoint(tp_id))
                self._in_flight[future] = claimed

    def _endpoint(self, tech_provider_id: int) -> Endpoint:
        if time.monotonic() - self._endpoints_at > _CONFIG_TTL_S:
            self._endpoints, self._endpoints_at = {}, time.monotonic()
        if tech_provider_id not in self._endpoints:
            now = timezone.now()
            for tp in onboarding_selectors.tech_providers_by_pk([tech_provider_id]).values():
                reason = (
                    (tp.webhook_disabled_reason or "disabled") if tp.webhook_disabled_at else None
                )
                self._endpoints[tp.pk] = Endpoint(
                    tp.webhook_url, tuple(signing_secrets(tp, now)), reason
                )
        return self._endpoints.get(tech_provider_id, Endpoint("", (), "deleted"))

    # ---- sending (on the pool's threads: HTTP only, no database)
    def _send(self, claimed: Claimed, endpoint: Endpoint) -> Sent:
        started = timezone.now()
        if not endpoint.url or endpoint.disabled_reason or not endpoint.secrets:
            error = (
                NO_URL
                if not endpoint.url
                else (
                    f"The callback URL is disabled ({endpoint.disabled_reason})."
                    if endpoint.disabled_reason
                    else "No signing secret is configured."
                )
            )
            result = SendResult(DeliveryAttempt.Outcome.NOT_SENT, error=error)
        else:
            body = claimed.body.encode()
            headers = signing.standard_headers(
                secrets=endpoint.secrets,
                webhook_id=claimed.webhook_id,
                timestamp=int(time.time()),
                body=body,
            )
            result = self.sender.post(endpoint.url, body, headers)
        return Sent(claimed, endpoint.url, started, timezone.now(), result)

    # ---- recording
    def _write_results(self, results: list[Sent]) -> None:
        """Attempts and new states of one batch, in one transaction (retried on a deadlock).

        Losing this write would make the rows go out again once their lease ends, so it is
        retried; it only touches rows this pump holds, so conflicts are rare and short.
        """
        now = timezone.now()
        updates = []
        for s in results:
            state, next_at, finished = _next_state(s)
            updates.append(
                (
                    state,
                    s.claimed.attempts + 1,
                    next_at,
                    s.started_at,
                    s.result.status_code,
                    s.result.error,
                    s.finished_at if s.result.succeeded else None,
                    finished,
                    now,
                    s.claimed.id,
                    self.owner,
                )
            )
        for attempt in range(_WRITE_TRIES):
            try:
                with transaction.atomic():
                    DeliveryAttempt.objects.bulk_create([_attempt_row(s) for s in results])
                    _write_states(updates)
                return
            except OperationalError:
                if attempt == _WRITE_TRIES - 1:
                    raise
                logger.warning("delivery results conflicted; writing them again")
                time.sleep(0.05 * (attempt + 1))

    def _flush(self) -> None:
        results, self._results = self._results, []
        if results:
            self._write_results(results)
            self._record_health(results, timezone.now())

    def _record_health(self, results: list[Sent], now: datetime) -> None:
        """Endpoint health, one Tech Provider per short transaction, in id order (no deadlock
        between pumps); best effort, since the attempts themselves are already recorded."""
        by_tp: dict[int, list[Sent]] = {}
        for s in sorted(results, key=lambda s: s.finished_at):
            if s.result.outcome != DeliveryAttempt.Outcome.NOT_SENT:
                by_tp.setdefault(s.claimed.tech_provider_id, []).append(s)
        for tp_id in sorted(by_tp):
            try:
                with transaction.atomic():
                    _record_endpoint(tp_id, by_tp[tp_id], now)
            except OperationalError:
                logger.warning("endpoint health of %s not updated this time", tp_id)

    def _collect(self, done: set[Future[Sent]]) -> None:
        for future in done:
            claimed = self._in_flight.pop(future)
            self._per_tp[claimed.tech_provider_id] -= 1
            self._held[claimed.tech_provider_id] -= 1
            sent = future.result()
            self._results.append(sent)
            self.stats.attempts += 1
            self.stats.outcomes[sent.result.outcome] += 1
            if sent.result.succeeded:
                self.stats.succeeded += 1
            else:
                self.stats.failed += 1

    # ---- the loop
    def run(self) -> PumpStats:
        deadline = time.monotonic() + self.budget_s
        last_flush = last_claim = 0.0
        target = self.threads * 4
        with ThreadPoolExecutor(self.threads, thread_name_prefix="webhook-pump") as pool:
            while True:
                now = time.monotonic()
                held = sum(self._held.values())
                if now >= deadline:
                    self._release_backlog()
                elif held == 0 or (held < target and now - last_claim >= _CLAIM_INTERVAL_S):
                    last_claim = now
                    self._claim(target - held)
                self._dispatch(pool)
                if not self._in_flight:
                    break
                done, _ = wait(set(self._in_flight), timeout=0.05, return_when=FIRST_COMPLETED)
                self._collect(done)
                if len(self._results) >= _FLUSH_EVERY or (
                    time.monotonic() - last_flush >= _FLUSH_INTERVAL_S
                ):
                    self._flush()
                    last_flush = time.monotonic()
        self._flush()
        return self.stats


def deliveries_pump(*, budget_s: float | None = None, sender: Sender | None = None) -> PumpStats:
    """Send what is due until nothing is (or the time budget ends); the attempts' statistics."""
    return Pump(sender=sender, budget_s=budget_s).run()
