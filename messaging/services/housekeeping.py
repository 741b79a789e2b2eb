"""Periodic upkeep: expiring parked events, retrying alert handling, disabling endpoints that
stopped failing only because nothing was sent to them, and pruning old raw payloads.
"""

from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.utils import timezone

from messaging.models import EndpointHealth, WabaAlert, WebhookEvent, WebhookPayload
from messaging.services.effects import OFFBOARDING_KINDS
from messaging.services.endpoints import endpoint_disable, silence_reason
from messaging.services.processing import webhook_events_expire_parked


@dataclass(frozen=True)
class Housekeeping:
    expired_events: int
    alerts_retried: int
    endpoints_disabled: int
    payloads_pruned: int


def _retry_alerts() -> int:
    stale = timezone.now() - timedelta(minutes=1)
    ids = list(
        WabaAlert.objects.filter(
            handled_at__isnull=True, kind__in=OFFBOARDING_KINDS, created_at__lt=stale
        ).values_list("id", flat=True)[:100]
    )
    for alert_id in ids:
        current_app.send_task("messaging.waba_alert_handle", args=[alert_id])
    return len(ids)


def _disable_silent_failures() -> int:
    now = timezone.now()
    limit = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_S)
    failing = EndpointHealth.objects.filter(
        failing_since__lte=limit, tech_provider__webhook_disabled_at__isnull=True
    ).values_list("tech_provider_id", flat=True)
    return sum(
        endpoint_disable(tech_provider_id=tp_id, reason=silence_reason(), now=now)
        for tp_id in list(failing)
    )


def _prune_payloads() -> int:
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_PAYLOAD_RETENTION_DAYS)
    waiting = WebhookEvent.objects.filter(
        state__in=[WebhookEvent.State.PENDING, WebhookEvent.State.PARKED]
    ).values("payload_id")
    # A payload whose events were never derived (expanded_at is null) is the only record of
    # them: it is kept however old it is, like one whose events still wait.
    old = WebhookPayload.objects.filter(received_at__lt=cutoff, expanded_at__isnull=False).exclude(
        id__in=waiting
    )
    deleted, _ = old.delete()
    return deleted


def webhooks_housekeeping() -> Housekeeping:
    return Housekeeping(
        expired_events=webhook_events_expire_parked(),
        alerts_retried=_retry_alerts(),
        endpoints_disabled=_disable_silent_failures(),
        payloads_pruned=_prune_payloads(),
    )
