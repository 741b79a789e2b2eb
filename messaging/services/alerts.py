"""Acting on WABA alerts: a PARTNER_REMOVED account_update offboards the WABA.

Runs in its own task after the event's batch committed, because offboarding may call Meta; the
alert stays unhandled until it succeeds, and housekeeping retries unhandled ones.
"""

import logging

from django.utils import timezone

from messaging.models import WabaAlert
from messaging.services.effects import OFFBOARDING_KINDS

logger = logging.getLogger(__name__)

MISSING = "Offboarding is not available yet (onboarding.services.offboarding.waba_offboard)."


def waba_alert_handle(*, alert_id: int) -> bool:
    """Offboard the WABA of an unhandled PARTNER_REMOVED alert; True when it was handled now."""
    alert = (
        WabaAlert.objects.select_related("waba")
        .filter(pk=alert_id, handled_at__isnull=True, kind__in=OFFBOARDING_KINDS)
        .first()
    )
    if alert is None:
        return False
    try:
        from onboarding.services.offboarding import waba_offboard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        WabaAlert.objects.filter(pk=alert.pk).update(handling_note=MISSING)
        logger.warning("alert %s: %s", alert.pk, MISSING)
        return False
    waba_offboard(waba=alert.waba, reason=f"Meta account_update {alert.kind}", actor="meta-webhook")
    WabaAlert.objects.filter(pk=alert.pk).update(
        handled_at=timezone.now(), handling_note="The WABA was offboarded."
    )
    return True
