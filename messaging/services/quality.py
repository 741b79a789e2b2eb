"""Quality and limits: each number's quality rating, messaging limit and throughput, and each
template's status and quality, kept current from Meta's webhooks and a periodic read.

Every change is a QualityEvent; a drop (a number from GREEN to YELLOW or RED, a lower messaging
limit, a template PAUSED or DISABLED or its quality falling) is flagged in admin and delivered to
the Tech Provider as an event of ours: `phone_number.quality_dropped`,
`phone_number.limit_dropped`, `template.paused`, `template.disabled`, `template.quality_dropped`.
`phone_number_quality_update` carries no rating, so it triggers a read of the number
(`phone_number_refresh`); beat reads every sending number every MESSAGE_QUALITY_REFRESH_S.
"""

import logging
from datetime import datetime
from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from messaging.models import MessageTemplate, NumberHealth, QualityEvent
from messaging.services.deliveries import tech_provider_event_deliver
from onboarding import selectors as onboarding_selectors
from onboarding.graph import GraphError
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount
from onboarding.services.meta import graph_client_for_waba

logger = logging.getLogger(__name__)

Kind = QualityEvent.Kind
REFRESH_NUMBER = "messaging.phone_number_quality_refresh"
QUALITY_RANK = {"GREEN": 3, "YELLOW": 2, "MEDIUM": 2, "RED": 1, "LOW": 1}
TIER_RANK = {
    "TIER_50": 1,
    "TIER_250": 2,
    "TIER_1K": 3,
    "TIER_2K": 4,
    "TIER_10K": 5,
    "TIER_100K": 6,
    "TIER_UNLIMITED": 7,
}
THROUGHPUT_RANK = {"STANDARD": 1, "HIGH": 2}
TEMPLATE_DROPS = {"PAUSED": "template.paused", "DISABLED": "template.disabled"}
REFRESH_FIELDS = (
    "quality_rating",
    "throughput",
    "whatsapp_business_manager_messaging_limit",
    "status",
)


def _lower(ranks: dict[str, int], previous: str, current: str) -> bool:
    before, after = ranks.get(previous.upper()), ranks.get(current.upper())
    return before is not None and after is not None and after < before


def is_drop(kind: str, previous: str, current: str) -> bool:
    if kind in (Kind.NUMBER_QUALITY, Kind.TEMPLATE_QUALITY):
        return _lower(QUALITY_RANK, previous, current)
    if kind == Kind.NUMBER_LIMIT:
        return _lower(TIER_RANK, previous, current)
    if kind == Kind.NUMBER_THROUGHPUT:
        return _lower(THROUGHPUT_RANK, previous, current)
    return kind == Kind.TEMPLATE_STATUS and current.upper() in TEMPLATE_DROPS


def _event_type(event: QualityEvent) -> str:
    if event.kind == Kind.TEMPLATE_STATUS:
        return TEMPLATE_DROPS[event.current.upper()]
    return {
        Kind.NUMBER_QUALITY: "phone_number.quality_dropped",
        Kind.NUMBER_LIMIT: "phone_number.limit_dropped",
        Kind.NUMBER_THROUGHPUT: "phone_number.throughput_dropped",
        Kind.TEMPLATE_QUALITY: "template.quality_dropped",
    }[Kind(event.kind)]


def _event_data(event: QualityEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": event.kind,
        "previous": event.previous or None,
        "current": event.current,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
    }
    if event.phone_number_id:
        data["phone_number_id"] = event.phone_number_id
    if event.template is not None:
        data["template"] = {
            "template_id": event.template.template_id,
            "name": event.template.name,
            "language": event.template.language,
        }
    return data


@transaction.atomic
def quality_change_record(
    *,
    waba: WhatsAppBusinessAccount,
    kind: str,
    previous: str,
    current: str,
    source: str,
    phone_number_id: str = "",
    template: MessageTemplate | None = None,
    at: datetime | None = None,
) -> QualityEvent | None:
    """Record one change (nothing when it is none); a drop is also told to the Tech Provider."""
    if not current or previous == current:
        return None
    event = QualityEvent.objects.create(
        waba=waba,
        phone_number_id=phone_number_id,
        template=template,
        kind=kind,
        previous=previous,
        current=current,
        is_drop=is_drop(kind, previous, current),
        source=source,
        occurred_at=at or timezone.now(),
    )
    if event.is_drop:
        if phone_number_id:
            NumberHealth.objects.filter(number__phone_number_id=phone_number_id).update(
                dropped_at=event.occurred_at
            )
        tech_provider_event_deliver(
            tech_provider=waba.tech_provider,
            event_type=_event_type(event),
            data=_event_data(event),
            key=f"quality:{event.pk}",
            waba_id=waba.waba_id,
        )
    return event


def number_health_get(phone: PhoneNumber) -> NumberHealth:
    health, _ = NumberHealth.objects.get_or_create(number=phone)
    return health


def _record_number_changes(phone: PhoneNumber, values: dict[str, str], source: str) -> None:
    for kind, field in (
        (Kind.NUMBER_QUALITY, "quality_rating"),
        (Kind.NUMBER_LIMIT, "messaging_limit_tier"),
        (Kind.NUMBER_THROUGHPUT, "throughput_level"),
    ):
        quality_change_record(
            waba=phone.waba,
            kind=kind,
            previous=getattr(phone, field),
            current=values[field],
            source=source,
            phone_number_id=phone.phone_number_id,
        )


@transaction.atomic
def _store_number(phone: PhoneNumber, values: dict[str, str], source: str) -> None:
    _record_number_changes(phone, values, source)
    changed = {k: v for k, v in values.items() if v}
    now = timezone.now()
    onboarding_selectors.phone_numbers_of_waba(phone.waba).filter(pk=phone.pk).update(
        **changed, updated_at=now
    )
    NumberHealth.objects.filter(number=phone).update(refreshed_at=now, refresh_error="")


def phone_number_refresh(*, phone: PhoneNumber, source: str = "refresh") -> bool:
    """Read the number's quality, limit and throughput from Meta; record what changed."""
    number_health_get(phone)
    try:
        info = graph_client_for_waba(phone.waba).get_phone_number(
            phone.phone_number_id, fields=REFRESH_FIELDS
        )
    except GraphError as error:
        NumberHealth.objects.filter(number=phone).update(refresh_error=str(error)[:2000])
        logger.warning("reading number %s failed: %s", phone.phone_number_id, error)
        return False
    values = {
        "quality_rating": info.quality_rating,
        "messaging_limit_tier": info.messaging_limit_tier,
        "throughput_level": info.throughput_level,
        "meta_status": info.status,
    }
    _store_number(phone, values, source)
    return True


def phone_numbers_refresh_later(*, phone_number_ids: list[str]) -> None:
    """After commit, read these numbers in their own tasks (a webhook said they changed)."""
    for phone_number_id in phone_number_ids:
        transaction.on_commit(
            partial(current_app.send_task, REFRESH_NUMBER, args=[phone_number_id])
        )


def quality_refresh_all() -> int:
    """Beat: one refresh task per number that can send."""
    ids = list(
        onboarding_selectors.phone_numbers_sending().values_list("phone_number_id", flat=True)
    )
    for phone_number_id in ids:
        current_app.send_task(REFRESH_NUMBER, args=[phone_number_id])
    return len(ids)
