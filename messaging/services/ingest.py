"""Ingest: store one verified Meta POST and the events derived from it, atomically, at once.

This is the only work done before Meta gets its 200: the raw body and one row per new event are
written in a single transaction (on PostgreSQL a single INSERT ... SELECT statement, so the
request pays for one round trip and one commit), duplicates of known events are dropped by the
unique event id, and processing is only nudged afterwards (messaging.services.nudge), never
published per request: the event rows are the outbox the processor reads.
"""

import json
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from messaging.meta_events import DerivedEvent, derive_events
from messaging.models import WebhookEvent, WebhookPayload

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
_ROW_TYPES = (
    "text",
    "text",
    "int",
    "int",
    "int",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
)


def _event_values(event: DerivedEvent) -> tuple[Any, ...]:
    return tuple(getattr(event, column) for column in _EVENT_COLUMNS)


def _store_postgresql(
    payload: tuple[Any, ...], events: list[DerivedEvent], path_waba_id: str, now: datetime
) -> None:
    payload_sql = (
        "INSERT INTO messaging_webhookpayload "
        "(received_at, source, path_waba_id, body, event_count, parse_error) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
    )
    with connection.cursor() as cursor:
        if not events:
            cursor.execute(payload_sql, payload)
            return
        first = "(" + ", ".join(f"%s::{t}" for t in _ROW_TYPES) + ")"
        rest = "(" + ", ".join(["%s"] * len(_ROW_TYPES)) + ")"
        rows = ", ".join([first] + [rest] * (len(events) - 1))
        columns = ", ".join(_EVENT_COLUMNS)
        # Only placeholders and our own column names are formatted in; every value is a parameter.
        sql = (
            f"WITH p AS ({payload_sql}) "  # noqa: S608
            f"INSERT INTO messaging_webhookevent ({columns}, payload_id, path_waba_id, state, "
            "note, attempts, created_at, updated_at) "
            f"SELECT v.*, p.id, %s, 'pending', '', 0, %s, %s FROM p, (VALUES {rows}) AS v "
            "ON CONFLICT (event_id) DO NOTHING"
        )
        params: list[Any] = list(payload)
        params.extend([path_waba_id, now, now])
        for event in events:
            params.extend(_event_values(event))
        cursor.execute(sql, params)


@transaction.atomic
def _store_orm(
    payload: tuple[Any, ...], events: list[DerivedEvent], path_waba_id: str, now: datetime
) -> None:
    received_at, source, _, body, count, error = payload
    row = WebhookPayload.objects.create(
        received_at=received_at,
        source=source,
        path_waba_id=path_waba_id,
        body=body,
        event_count=count,
        parse_error=error,
    )
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                payload=row,
                path_waba_id=path_waba_id,
                created_at=now,
                updated_at=now,
                **dict(zip(_EVENT_COLUMNS, _event_values(event), strict=True)),
            )
            for event in events
        ],
        ignore_conflicts=True,
    )


def webhook_payload_ingest(*, body: bytes, source: str, path_waba_id: str = "") -> int:
    """Store a verified body and its events (duplicates dropped); the number of events in it."""
    now = timezone.now()
    try:
        derivation = derive_events(json.loads(body))
        error = "; ".join(derivation.problems)[:200]
    except (ValueError, UnicodeDecodeError):
        derivation = derive_events(None)
        error = "the body is not JSON"
    events = derivation.events
    payload = (now, source, path_waba_id, body, len(events), error)
    if connection.vendor == "postgresql":
        _store_postgresql(payload, events, path_waba_id, now)
    else:
        _store_orm(payload, events, path_waba_id, now)
    return len(events)
