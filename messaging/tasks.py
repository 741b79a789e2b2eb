"""Celery tasks of messaging: thin, ids (or nothing) in, one service call each.

The processing and delivery tasks take no arguments: the database says what is due, the tasks
only make a worker look (they are nudged after commits and run by beat every few seconds).
"""

from celery import shared_task

from messaging.services import alerts, deliveries, housekeeping, processing, pump


@shared_task(name="messaging.webhook_events_process")
def webhook_events_process() -> int:
    """Process pending Meta events: route, apply, create deliveries."""
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
