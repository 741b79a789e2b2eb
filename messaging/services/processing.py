"""Processing Meta's events after the 200: expand stored payloads, route, apply effects, deliver.

Each run first expands pending payloads into event rows (messaging.services.ingest, a batch per
transaction), then claims pending events in batches (`FOR UPDATE SKIP LOCKED`, so several workers
can run at once), parses each payload once, routes every event (messaging.services.routing),
applies what it changes (messaging.services.effects) inside a savepoint of its own, so one
malformed event is marked `ignored` instead of failing its batch, and creates one delivery per
routed event. A batch's new event states are written with one statement. Events of an unknown
WABA are parked; `webhook_events_route_parked` puts them back in line once their WABA exists
(beat runs it every 10 s; onboarding may also call it with the new WABA's id).
"""

import json
import logging
import re
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from messaging.meta_events import event_value
from messaging.models import Delivery, WebhookEvent, WebhookPayload
from messaging.services.batch_effects import BatchEffects, queue_scan_in_index_order
from messaging.services.deliveries import deliveries_save, delivery_for_event
from messaging.services.effects import event_effects_apply
from messaging.services.ingest import webhook_payloads_expand
from messaging.services.media import MediaCollector
from messaging.services.message_states import outbox_statuses_apply
from messaging.services.nudge import PROCESS_EVENTS, nudge
from messaging.services.routing import Router
from onboarding import selectors as onboarding_selectors
from onboarding.models import WhatsAppBusinessAccount

logger = logging.getLogger(__name__)

State = WebhookEvent.State
_UPDATED_FIELDS = [
    "state",
    "tech_provider",
    "waba",
    "value",
    "note",
    "attempts",
    "processed_at",
    "updated_at",
]
# One array per column: the same statement for any batch size (Django's bulk_update builds a
# CASE WHEN per row and field, which was most of a worker's CPU in the backlog profile). The
# values travel as one JSON array, matched by position: as elements of a text array each would
# be escaped quote by quote on the client. Python's None is SQL NULL there, as JSONField does.
_UPDATE_SQL = (
    "UPDATE messaging_webhookevent AS e SET state = v.state, "
    "tech_provider_id = v.tech_provider_id, waba_id = v.waba_id, "
    "value = NULLIF(j.value, 'null'::jsonb), note = v.note, attempts = v.attempts, "
    "processed_at = v.processed_at, updated_at = v.updated_at "
    "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::int[], "
    "%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY "
    "AS v(id, state, tech_provider_id, waba_id, note, attempts, processed_at, updated_at, n) "
    "JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS j(value, n) ON j.n = v.n "
    "WHERE e.id = v.id"
)


# jsonb cannot hold NUL or a lone surrogate, and one such string would fail its whole batch on
# every run. Bodies are scanned for their escapes first, so an ordinary one costs one search.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")
REPLACED_NOTE = "Text PostgreSQL cannot hold (NUL, a lone surrogate) was replaced with U+FFFD."


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE_CHAR.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _parse(raw: bytes) -> tuple[Any, bool]:
    """The body's document, made storable; whether anything had to be replaced."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None, False
    if not _UNSTORABLE_ESCAPE.search(raw):
        return document, False
    storable = _storable(document)
    return storable, storable != document


def _documents(events: list[WebhookEvent]) -> tuple[dict[int, Any], set[int]]:
    """Each payload's document, and the payloads whose text had to be replaced to be stored."""
    ids = {e.payload_id for e in events if e.payload_id}
    documents: dict[int, Any] = {}
    replaced: set[int] = set()
    for payload_id, body in WebhookPayload.objects.filter(id__in=ids).values_list("id", "body"):
        documents[payload_id], changed = _parse(bytes(body))
        if changed:
            replaced.add(payload_id)
    return documents, replaced


Routed = tuple[WebhookEvent, Any, WhatsAppBusinessAccount]


def _apply_one(event: WebhookEvent, value: Any, waba: WhatsAppBusinessAccount) -> None:
    try:
        with transaction.atomic():
            event_effects_apply(event, value, waba)
    except Exception as error:  # one bad event must not block its batch forever
        logger.exception("event %s could not be applied", event.event_id)
        event.note = f"Applying it failed: {type(error).__name__}; it is still forwarded."


def _apply_batch(batch: BatchEffects, batched: list[Routed]) -> None:
    """Statuses and windows of the whole batch at once; event by event if that fails."""
    try:
        with transaction.atomic():
            batch.apply()
    except DatabaseError:
        logger.exception("batched effects failed; applying them one event at a time")
        for event, value, waba in batched:
            _apply_one(event, value, waba)


def _apply_outbox(batch: BatchEffects) -> None:
    """The batch's statuses move our outbox messages too (issue 7), in a savepoint of their own."""
    if not batch.statuses:
        return
    try:
        with transaction.atomic():
            outbox_statuses_apply(batch.statuses.values())
    except Exception:  # never let the outbox hold Meta's events back; they are still forwarded
        logger.exception("outbox messages could not be moved by this batch's statuses")


def _process_one(
    event: WebhookEvent,
    document: Any,
    router: Router,
    batch: BatchEffects,
    batched: list[Routed],
    deliveries: list[Delivery],
    media: MediaCollector,
) -> None:
    now = timezone.now()
    event.attempts += 1
    event.updated_at = now
    value = event_value(document, event.entry_index, event.change_index, event.item_index)
    if value is None:
        event.state, event.note = State.IGNORED, "The payload holds no value for this event."
        return
    event.value = value
    waba = router.waba_for(event)
    if waba is None:
        event.state = State.PARKED
        event.note = "No WABA we know matches this event yet; it waits for one."
        return
    if batch.add(event, value, waba):
        batched.append((event, value, waba))
    else:
        _apply_one(event, value, waba)
    event.state, event.processed_at = State.PROCESSED, now
    event.tech_provider_id, event.waba = waba.tech_provider_id, waba
    forwarded = media.add(event, value, waba)  # inbound media carry our stored copy's URL
    deliveries.append(delivery_for_event(event=event, value=forwarded, waba=waba, now=now))


def events_save(events: list[WebhookEvent]) -> None:
    """Write a batch's processed fields: one statement on PostgreSQL, bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        WebhookEvent.objects.bulk_update(events, _UPDATED_FIELDS)
        return
    params: list[Any] = [
        [e.pk for e in events],
        [e.state for e in events],
        [e.tech_provider_id for e in events],
        [e.waba_id for e in events],
        [e.note for e in events],
        [e.attempts for e in events],
        [e.processed_at for e in events],
        [e.updated_at for e in events],
        json.dumps([e.value for e in events]),  # what JSONField itself stores, value by value
    ]
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_SQL, params)


@transaction.atomic
def _process_batch(limit: int) -> int:
    queue_scan_in_index_order()
    events = list(
        WebhookEvent.objects.select_for_update(skip_locked=True)
        .filter(state=State.PENDING)
        .order_by("id")[:limit]
    )
    if not events:
        return 0
    documents, replaced = _documents(events)
    router = Router.for_events(events)
    batch, batched, deliveries = BatchEffects(), list[Routed](), list[Delivery]()
    media = MediaCollector()
    for event in events:
        document = documents.get(event.payload_id or 0)
        _process_one(event, document, router, batch, batched, deliveries, media)
        if event.payload_id in replaced and event.state == State.PROCESSED:
            event.note = f"{event.note} {REPLACED_NOTE}".strip()
    _apply_batch(batch, batched)
    _apply_outbox(batch)
    events_save(events)
    deliveries_save(deliveries)
    media.save()
    return len(events)


def webhook_events_process(*, batch: int | None = None, budget_s: float = 20.0) -> int:
    """Expand pending payloads into events and process pending events, a batch of each per
    transaction, until neither has a full batch left or time is up; how many were processed.

    Beat runs it every 2 s, so payloads a crashed worker left unexpanded (its transaction rolled
    back) and payloads whose nudge was lost are picked up within that period.
    """
    batch = batch or settings.WEBHOOK_PROCESS_BATCH
    deadline = time.monotonic() + budget_s
    done = 0
    while time.monotonic() < deadline:
        expanded = webhook_payloads_expand(limit=batch)
        count = _process_batch(batch)
        done += count
        if expanded < batch and count < batch:
            return done
    nudge(PROCESS_EVENTS)  # more is waiting: let the next run continue
    return done


@transaction.atomic
def webhook_events_route_parked(*, waba_id: str | None = None) -> int:
    """Put parked events whose WABA (or number) we now know back in line; how many.

    The hook for onboarding: call it with a WABA's id once that WABA is saved. Without an id it
    checks every parked event (beat does that every 10 s).
    """
    parked = WebhookEvent.objects.filter(state=State.PARKED)
    if waba_id:
        parked = parked.filter(
            Q(named_waba_id=waba_id)
            | Q(path_waba_id=waba_id)
            | Q(phone_number_id__in=_numbers_of(waba_id))
        )
    known = onboarding_selectors.waba_ids_known()
    count = parked.filter(
        Q(named_waba_id__in=known)
        | Q(path_waba_id__in=known)
        | Q(phone_number_id__in=onboarding_selectors.phone_number_ids_known())
    ).update(state=State.PENDING, note="", updated_at=timezone.now())
    if count:
        nudge(PROCESS_EVENTS)
    return count


@transaction.atomic
def webhook_events_requeue(*, event_ids: list[int]) -> int:
    """Staff: process these events again (route, apply, forward); deliveries already made stay
    single, because a delivery is unique per Tech Provider and webhook-id."""
    count = (
        WebhookEvent.objects.filter(id__in=event_ids)
        .exclude(state=State.PENDING)
        .update(state=State.PENDING, updated_at=timezone.now())
    )
    if count:
        nudge(PROCESS_EVENTS)
    return count


def _numbers_of(waba_id: str) -> list[str]:
    waba = onboarding_selectors.waba_get_by_waba_id(waba_id)
    if waba is None:
        return []
    return [n.phone_number_id for n in onboarding_selectors.phone_numbers_of_waba(waba)]


def webhook_events_expire_parked() -> int:
    """Give up on events parked longer than WEBHOOK_PARKED_TTL_S (Meta retries for 7 days)."""
    limit = timezone.now() - timedelta(seconds=settings.WEBHOOK_PARKED_TTL_S)
    count = WebhookEvent.objects.filter(state=State.PARKED, created_at__lt=limit).update(
        state=State.EXPIRED,
        note="No WABA we know matched it in time.",
        updated_at=timezone.now(),
    )
    if count:
        logger.warning("%s parked webhook events expired without a WABA", count)
    return count
