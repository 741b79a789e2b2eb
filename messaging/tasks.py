"""Celery tasks of messaging: thin, ids (or nothing) in, one service call each.

The processing and delivery tasks take no arguments: the database says what is due, the tasks
only make a worker look (they are nudged after commits and run by beat every few seconds).
"""

from celery import shared_task

from messaging.services import (
    alerts,
    callbacks,
    deliveries,
    housekeeping,
    media,
    outbox,
    processing,
    pump,
    quality,
    send_pump,
    templates,
)
from onboarding import selectors as onboarding_selectors


@shared_task(name="messaging.webhook_events_process")
def webhook_events_process() -> int:
    """Expand pending Meta payloads into events, then route, apply, create deliveries."""
    return processing.webhook_events_process()


@shared_task(name="messaging.webhook_events_route_parked")
def webhook_events_route_parked(waba_id: str | None = None) -> int:
    """Put parked events of WABAs we now know back in line."""
    return processing.webhook_events_route_parked(waba_id=waba_id)


@shared_task(name="messaging.deliveries_pump")
def deliveries_pump() -> int:
    """Send due deliveries until none are due."""
    return pump.deliveries_pump().attempts


@shared_task(name="messaging.waba_alert_handle")
def waba_alert_handle(alert_id: int) -> bool:
    """Act on one alert (PARTNER_REMOVED offboards its WABA)."""
    return alerts.waba_alert_handle(alert_id=alert_id)


@shared_task(name="messaging.webhooks_housekeeping")
def webhooks_housekeeping() -> None:
    """Expire parked events, retry alerts, disable silent failing endpoints, prune payloads."""
    housekeeping.webhooks_housekeeping()


@shared_task(name="messaging.tech_provider_events_dispatch")
def tech_provider_events_dispatch() -> int:
    """Queue deliveries for the events onboarding recorded for Tech Providers."""
    return deliveries.tech_provider_events_dispatch()


# ---------------------------------------------------------------- messages (issue 7)


@shared_task(name="messaging.messages_send")
def messages_send() -> int:
    """Send due outbox messages, paced by the shared limiter."""
    return send_pump.messages_send().sent


@shared_task(name="messaging.messages_sweep")
def messages_sweep() -> dict[str, int]:
    """Requeue messages of vanished pumps; fail those past message_expiry."""
    return outbox.messages_sweep()


@shared_task(name="messaging.status_callbacks_send")
def status_callbacks_send() -> int:
    """Send due Plivo-style status callbacks."""
    return callbacks.status_callbacks_send()


@shared_task(name="messaging.inbound_media_fetch")
def inbound_media_fetch() -> int:
    """Fetch inbound media from Meta into our storage."""
    return media.inbound_media_fetch()


@shared_task(name="messaging.phone_number_quality_refresh")
def phone_number_quality_refresh(phone_number_id: str) -> bool:
    """Read one number's quality, limit and throughput from Meta."""
    phone = onboarding_selectors.phone_numbers_by_id([phone_number_id]).get(phone_number_id)
    if phone is None:
        return False
    return quality.phone_number_refresh(phone=phone)


@shared_task(name="messaging.quality_refresh_all")
def quality_refresh_all() -> int:
    """Queue a quality read of every number that can send."""
    return quality.quality_refresh_all()


@shared_task(name="messaging.templates_sync")
def templates_sync(waba_id: str) -> int:
    """Read one WABA's templates from Meta."""
    waba = onboarding_selectors.waba_get_by_waba_id(waba_id)
    if waba is None:
        return 0
    return templates.templates_sync(waba=waba)


@shared_task(name="messaging.templates_sync_all")
def templates_sync_all() -> int:
    """Queue a template sync of every active WABA."""
    return templates.templates_sync_all()
