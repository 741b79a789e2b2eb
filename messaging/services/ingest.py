"""Ingest: a verified Meta POST is stored as its raw body before the 200; workers derive its events.

Before the 200 (`webhook_payload_ingest`) the request does what the floor does: one autocommit
INSERT of the raw body into `WebhookPayload`, with no JSON parsing and no event rows. That row is
the durable record of every event in it; `expanded_at` stays empty until a worker has derived
them. Processing is only nudged afterwards (messaging.services.nudge), never published per
request.

After the 200 (`webhook_payloads_expand`, the first step of each processing run) a worker claims
pending payloads in id order (`FOR UPDATE SKIP LOCKED`, so several workers can expand at once),
derives their events (messaging.meta_events), inserts all events of the batch in one statement
where `ON CONFLICT (event_id) DO NOTHING` drops the ones already stored, and marks the payloads
expanded with their `event_count` and `parse_error`, all in one transaction: a crash redoes the
whole batch, so no event is lost or stored twice. A body that is not JSON is marked with its
parse error and yields no event; a body whose events the database refuses is marked the same way
without holding the rest of its batch back.
"""

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models.functions import Length
from django.utils import timezone

from messaging.meta_events import DerivedEvent, derive_events
from messaging.models import WebhookEvent, WebhookPayload
from messaging.services.batch_effects import queue_scan_in_index_order

logger = logging.getLogger(__name__)

_PAYLOAD_SQL = (
    "INSERT INTO messaging_webhookpayload "
    "(received_at, source, path_waba_id, body, event_count, parse_error) "
    "VALUES (%s, %s, %s, %s, 0, '')"
)
_EVENT_COLUMNS = (
    "event_id",
    "dedupe_key",
    "entry_index",
    "change_index",
    "item_index",
    "field",
    "event_type",
    "entry_id",
    "named_waba_id",
    "phone_number_id",
    "occurred_at",
)
_TEXT_COLUMNS = (
    "event_id",
    "dedupe_key",
    "field",
    "event_type",
    "entry_id",
    "named_waba_id",
    "phone_number_id",
)
# One array per column, so the statement is the same text for any number of events and never
# meets PostgreSQL's limit of 65,535 parameters.
_EVENTS_SQL = (
    "INSERT INTO messaging_webhookevent (event_id, dedupe_key, entry_index, change_index, "
    "item_index, field, event_type, entry_id, named_waba_id, phone_number_id, occurred_at, "
    "payload_id, path_waba_id, state, note, attempts, created_at, updated_at) "
    "SELECT v.*, 'pending', '', 0, %s, %s FROM unnest(%s::text[], %s::text[], %s::int[], "
    "%s::int[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::timestamptz[], %s::bigint[], %s::text[]) AS v "
    "ON CONFLICT (event_id) DO NOTHING"
)
_MARK_SQL = (
    "UPDATE messaging_webhookpayload AS p SET expanded_at = %s, event_count = v.event_count, "
    "parse_error = v.parse_error "
    "FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS v(id, event_count, parse_error) "
    "WHERE p.id = v.id AND p.expanded_at IS NULL"
)
# Expanders insert one at a time (the rest of their batches runs in parallel): two inserts
# waiting on each other's uncommitted duplicate events in opposite orders would deadlock.
# An arbitrary key that belongs to this module.
_INSERT_LOCK = 0x6D73_6745_7870
_SMALLINT_MAX = 32767  # entry, change and item indexes are smallint columns
_BATCH_MAX_BYTES = 16 * 1024 * 1024  # bodies held by one batch (each may be 3 MiB)


# ---------------------------------------------------------------- before the 200


def webhook_payload_ingest(*, body: bytes, source: str, path_waba_id: str = "") -> None:
    """Store a verified body, byte for byte, as a payload whose events are still to be derived.

    One autocommit INSERT, the durable commit Meta's 200 promises; nothing is parsed here.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PAYLOAD_SQL, [now, source, path_waba_id, body])
        return
    WebhookPayload.objects.create(
        received_at=now, source=source, path_waba_id=path_waba_id, body=body
    )


# ---------------------------------------------------------------- after the 200, in workers


@dataclass(frozen=True)
class Expansion:
    payload_id: int
    path_waba_id: str
    events: list[DerivedEvent]
    event_count: int
    parse_error: str


def _storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:  # an unpaired surrogate, from a "\ud800" escape
        return False
    return True


def _storable(event: DerivedEvent) -> bool:
    """Whether the columns can hold it: text without NUL or unpaired surrogates, small indexes."""
    if max(event.entry_index, event.change_index, event.item_index) > _SMALLINT_MAX:
        return False
    return all(_storable_text(getattr(event, column)) for column in _TEXT_COLUMNS)


def _derive(payload_id: int, path_waba_id: str, body: bytes) -> Expansion:
    try:
        derivation = derive_events(json.loads(body))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        return Expansion(payload_id, path_waba_id, [], 0, "the body is not JSON")
    except Exception as error:  # a body that breaks derivation must not block every later one
        logger.exception("the events of webhook payload %s could not be derived", payload_id)
        return Expansion(payload_id, path_waba_id, [], 0, f"not derived: {type(error).__name__}")
    problems = derivation.problems
    events = [e for e in derivation.events if _storable(e)]
    if len(events) < len(derivation.events):
        problems = [*problems, f"{len(derivation.events) - len(events)} events not storable"]
    return Expansion(payload_id, path_waba_id, events, len(events), "; ".join(problems)[:200])


def _claim(limit: int) -> list[Expansion]:
    """Lock the oldest pending payloads (up to `limit` and _BATCH_MAX_BYTES) and derive them."""
    queue_scan_in_index_order()
    sized = (
        WebhookPayload.objects.select_for_update(skip_locked=True)
        .filter(expanded_at__isnull=True)
        .order_by("id")
        .annotate(size=Length("body"))
        .values_list("id", "size")[:limit]
    )
    chosen: list[int] = []
    total = 0
    for payload_id, size in sized:
        if chosen and total + size > _BATCH_MAX_BYTES:
            break  # the rest stay locked, unexpanded, until this transaction ends
        chosen.append(payload_id)
        total += size
    rows = (
        WebhookPayload.objects.filter(id__in=chosen)
        .order_by("id")
        .values_list("id", "path_waba_id", "body")
    )
    return [_derive(pk, path, bytes(body)) for pk, path, body in rows]


def _first_occurrences(batch: list[Expansion]) -> list[tuple[Expansion, DerivedEvent]]:
    """Every event of the batch once, with the earliest payload that holds it."""
    seen: set[str] = set()
    found = []
    for expansion in batch:
        for event in expansion.events:
            if event.event_id not in seen:
                seen.add(event.event_id)
                found.append((expansion, event))
    return found


def _insert_postgresql(events: list[tuple[Expansion, DerivedEvent]], now: datetime) -> None:
    columns: list[list[Any]] = [[getattr(e, c) for _, e in events] for c in _EVENT_COLUMNS]
    columns.append([x.payload_id for x, _ in events])
    columns.append([x.path_waba_id for x, _ in events])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_INSERT_LOCK])
        cursor.execute(_EVENTS_SQL, [now, now, *columns])


def _insert_orm(events: list[tuple[Expansion, DerivedEvent]], now: datetime) -> None:
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                payload_id=expansion.payload_id,
                path_waba_id=expansion.path_waba_id,
                created_at=now,
                updated_at=now,
                **{c: getattr(event, c) for c in _EVENT_COLUMNS},
            )
            for expansion, event in events
        ],
        ignore_conflicts=True,
    )


def _insert_events(batch: list[Expansion], now: datetime) -> None:
    events = _first_occurrences(batch)
    if not events:
        return
    if connection.vendor == "postgresql":
        _insert_postgresql(events, now)
    else:
        _insert_orm(events, now)


def _insert_alone(expansion: Expansion, now: datetime) -> Expansion:
    """One payload's events in a savepoint of their own; refused ones mark only this payload."""
    try:
        with transaction.atomic():
            _insert_events([expansion], now)
    except (DataError, IntegrityError, ValueError) as error:
        logger.exception("the events of webhook payload %s were refused", expansion.payload_id)
        return replace(expansion, events=[], event_count=0, parse_error=f"refused: {error}"[:200])
    return expansion


def _mark_expanded(batch: list[Expansion], now: datetime) -> int:
    if connection.vendor != "postgresql":
        done = 0
        for x in batch:
            done += WebhookPayload.objects.filter(id=x.payload_id, expanded_at__isnull=True).update(
                expanded_at=now, event_count=x.event_count, parse_error=x.parse_error
            )
        return done
    ids = [x.payload_id for x in batch]
    counts = [x.event_count for x in batch]
    errors = [x.parse_error for x in batch]
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL, [now, ids, counts, errors])
        return int(cursor.rowcount)


@transaction.atomic
def _expand_batch(limit: int, *, one_by_one: bool) -> int:
    batch = _claim(limit)
    if not batch:
        return 0
    now = timezone.now()
    if one_by_one:
        batch = [_insert_alone(expansion, now) for expansion in batch]
    else:
        _insert_events(batch, now)
    return _mark_expanded(batch, now)


def webhook_payloads_expand(*, limit: int | None = None) -> int:
    """Derive and store the events of up to `limit` pending payloads; how many were expanded.

    One transaction: events in, payloads marked, or neither. Events already stored (Meta's
    retries, a payload expanded twice) are dropped by their unique event id.
    """
    limit = limit or settings.WEBHOOK_PROCESS_BATCH
    try:
        return _expand_batch(limit, one_by_one=False)
    except (DataError, IntegrityError, ValueError):
        logger.exception("a batch of webhook payloads was refused; expanding it one by one")
        return _expand_batch(limit, one_by_one=True)
