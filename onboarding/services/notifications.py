"""Events for Tech Providers: recorded here, delivered as signed webhooks by messaging.

Onboarding never imports messaging, so it only writes a TechProviderEvent row; messaging picks
undispatched rows up (tech_provider_events_undispatched), queues a delivery, and marks them with
tech_provider_event_mark_dispatched.
"""

import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from onboarding.models import TechProvider, TechProviderEvent, WhatsAppBusinessAccount


@transaction.atomic
def tech_provider_event_record(
    *,
    tech_provider: TechProvider,
    waba: WhatsAppBusinessAccount | None,
    event_type: str,
    payload: dict[str, Any],
) -> TechProviderEvent:
    """Record one event (e.g. `waba.active`) for delivery to the Tech Provider. No secrets."""
    return TechProviderEvent.objects.create(
        event_id=f"evt_{uuid.uuid4().hex}",
        tech_provider=tech_provider,
        waba=waba,
        event_type=event_type,
        payload=payload,
    )


def tech_provider_events_undispatched(*, limit: int = 500) -> QuerySet[TechProviderEvent]:
    """Events not yet handed to delivery, oldest first."""
    return TechProviderEvent.objects.filter(dispatched_at__isnull=True).order_by("id")[:limit]


@transaction.atomic
def tech_provider_event_mark_dispatched(*, event_id: str) -> bool:
    """Mark an event as handed to delivery; False if it was already (or does not exist)."""
    return bool(
        TechProviderEvent.objects.filter(event_id=event_id, dispatched_at__isnull=True).update(
            dispatched_at=timezone.now()
        )
    )
