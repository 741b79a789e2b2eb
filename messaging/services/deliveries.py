"""Deliveries to Tech Providers: creating them (for Meta's events and our own), the retry
schedule, and replays. Sending is messaging.services.pump's job.
"""

import json
import random
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from messaging.meta_events import event_id_for
from messaging.models import Delivery, WebhookEvent
from messaging.services.nudge import PUMP_DELIVERIES, nudge
from onboarding.errors import InvalidRequest
from onboarding.models import TechProvider, WhatsAppBusinessAccount

NO_URL = "No callback URL is configured."
REPLAYABLE = (Delivery.State.FAILED, Delivery.State.DEAD)


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


def envelope_render(
    *,
    webhook_id: str,
    event_type: str,
    data: Any,
    created_at: datetime,
    occurred_at: datetime | None = None,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    source: str = "platform",
    field: str | None = None,
) -> str:
    """Our JSON envelope around an event; rendered once, sent byte-identical on every attempt."""
    envelope = {
        "id": webhook_id,
        "type": event_type,
        "source": source,
        "field": field,
        "waba_id": waba_id,
        "phone_number_id": phone_number_id or None,
        "timestamp": int(occurred_at.timestamp()) if occurred_at else None,
        "occurred_at": _iso(occurred_at),
        "created_at": _iso(created_at),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def initial_state(tech_provider: TechProvider, now: datetime) -> dict[str, Any]:
    """A new delivery is due now, or failed at once when there is nowhere to send it."""
    if not tech_provider.webhook_url:
        return {"state": Delivery.State.FAILED, "last_error": NO_URL, "finished_at": now}
    if tech_provider.webhook_disabled_at:
        reason = tech_provider.webhook_disabled_reason or "disabled"
        return {
            "state": Delivery.State.FAILED,
            "finished_at": now,
            "last_error": f"The callback URL is disabled ({reason}).",
        }
    return {"state": Delivery.State.PENDING, "next_attempt_at": now}


def delivery_for_event(
    *, event: WebhookEvent, value: Any, waba: WhatsAppBusinessAccount, now: datetime
) -> Delivery:
    """The (unsaved) delivery of one routed Meta event to its WABA's Tech Provider."""
    tech_provider = waba.tech_provider
    body = envelope_render(
        webhook_id=event.event_id,
        event_type=event.event_type,
        data=value,
        created_at=event.created_at or now,
        occurred_at=event.occurred_at,
        waba_id=waba.waba_id,
        phone_number_id=event.phone_number_id,
        source="meta",
        field=event.field,
    )
    return Delivery(
        tech_provider=tech_provider,
        event=event,
        webhook_id=event.event_id,
        event_type=event.event_type,
        body=body,
        **initial_state(tech_provider, now),
    )


def deliveries_save(deliveries: Iterable[Delivery]) -> None:
    """Insert deliveries; one that exists (same Tech Provider and webhook-id) is left alone."""
    deliveries = list(deliveries)
    if not deliveries:
        return
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if any(d.state == Delivery.State.PENDING for d in deliveries):
        nudge(PUMP_DELIVERIES)


@transaction.atomic
def tech_provider_event_deliver(
    *,
    tech_provider: TechProvider,
    event_type: str,
    data: dict[str, Any],
    key: str | None = None,
    webhook_id: str | None = None,
    waba_id: str | None = None,
) -> Delivery:
    """Deliver one of our own events (onboarding finished, endpoint disabled, ...) to a TP.

    Idempotent given `webhook_id` (or a `key` it is derived from): one delivery per webhook-id.
    """
    now = timezone.now()
    if webhook_id is None:
        webhook_id = (
            event_id_for(f"platform:{tech_provider.pk}:{key}")
            if key
            else "evt_" + secrets.token_hex(16)
        )
    body = envelope_render(
        webhook_id=webhook_id, event_type=event_type, data=data, created_at=now, waba_id=waba_id
    )
    delivery = Delivery(
        tech_provider=tech_provider,
        webhook_id=webhook_id,
        event_type=event_type,
        body=body,
        **initial_state(tech_provider, now),
    )
    deliveries_save([delivery])
    return Delivery.objects.get(tech_provider=tech_provider, webhook_id=webhook_id)


@transaction.atomic
def tech_provider_events_dispatch(*, limit: int = 500) -> int:
    """Queue a delivery for each event onboarding recorded (onboarding.services.notifications)."""
    from onboarding.services import notifications

    count = 0
    for event in notifications.tech_provider_events_undispatched(limit=limit).select_related(
        "tech_provider", "waba"
    ):
        tech_provider_event_deliver(
            tech_provider=event.tech_provider,
            event_type=event.event_type,
            data=event.payload,
            webhook_id=event.event_id,
            waba_id=event.waba.waba_id if event.waba else None,
        )
        count += notifications.tech_provider_event_mark_dispatched(event_id=event.event_id)
    return count


def retry_delay_s(attempts_made: int, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None when exhausted."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE_S
    if attempts_made >= len(schedule):
        return None
    jitter = float(settings.WEBHOOK_RETRY_JITTER)
    factor = (rng or random).uniform(1 - jitter, 1 + jitter)  # noqa: S311 - not security
    return float(schedule[attempts_made]) * factor


def _assert_replayable(tech_provider: TechProvider) -> None:
    if not tech_provider.webhook_url:
        raise InvalidRequest("Set a callback URL before replaying deliveries.")
    if tech_provider.webhook_disabled_at:
        raise InvalidRequest(
            "The callback URL is disabled; set it again to enable it, then replay."
        )


def _replay_fields(now: datetime) -> dict[str, Any]:
    return {
        "state": Delivery.State.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "finished_at": None,
        "updated_at": now,
    }


@transaction.atomic
def delivery_replay(*, delivery: Delivery) -> Delivery:
    """Send one delivery again now: same webhook-id and body, fresh timestamp and signature."""
    _assert_replayable(delivery.tech_provider)
    fields = _replay_fields(timezone.now())
    Delivery.objects.filter(pk=delivery.pk).update(
        **fields, replays=F("replays") + 1, lease_owner="", lease_expires_at=None
    )
    nudge(PUMP_DELIVERIES)
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def deliveries_replay_since(
    *, tech_provider: TechProvider, since: datetime, states: Iterable[str] = REPLAYABLE
) -> int:
    """Replay every failed or dead delivery of this Tech Provider created since `since`."""
    _assert_replayable(tech_provider)
    states = [s for s in states if s in REPLAYABLE]
    now = timezone.now()
    rows = Delivery.objects.filter(
        tech_provider=tech_provider, state__in=states, created_at__gte=since
    )
    count = rows.update(**_replay_fields(now), replays=F("replays") + 1)
    if count:
        nudge(PUMP_DELIVERIES)
    return count
