"""Reads of messaging state, for the APIs, admin and the message-sending side (issue 7)."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from messaging.models import ConversationWindow, Delivery, DeliveryAttempt, MessageStatus
from onboarding.errors import NotFound
from onboarding.models import TechProvider


def delivery_list_for_tech_provider(
    *,
    tech_provider: TechProvider,
    state: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.filter(tech_provider=tech_provider)
    if state:
        deliveries = deliveries.filter(state=state)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    if since:
        deliveries = deliveries.filter(created_at__gte=since)
    if until:
        deliveries = deliveries.filter(created_at__lt=until)
    attempts = Prefetch("attempts_log", queryset=DeliveryAttempt.objects.order_by("id"))
    return deliveries.prefetch_related(attempts).order_by("-created_at", "-id")


def delivery_get_for_tech_provider(*, tech_provider: TechProvider, webhook_id: str) -> Delivery:
    """One delivery of this Tech Provider by webhook-id; another's answers like a missing one."""
    delivery = (
        delivery_list_for_tech_provider(tech_provider=tech_provider)
        .filter(webhook_id=webhook_id)
        .select_related("tech_provider")
        .first()
    )
    if delivery is None:
        raise NotFound("Delivery not found.")
    return delivery


def message_status_get(wamid: str) -> MessageStatus | None:
    return MessageStatus.objects.filter(wamid=wamid).first()


def conversation_window_get(*, phone_number_id: str, wa_id: str) -> ConversationWindow | None:
    return ConversationWindow.objects.filter(phone_number_id=phone_number_id, wa_id=wa_id).first()


def conversation_window_is_open(
    *, phone_number_id: str, wa_id: str, at: datetime | None = None
) -> bool:
    """True while the customer's last message is less than 24 hours old."""
    window = conversation_window_get(phone_number_id=phone_number_id, wa_id=wa_id)
    return window is not None and window.expires_at > (at or timezone.now())
