"""Reads of messaging state, for the APIs, admin and the message-sending side (issue 7)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from messaging.models import (
    ConversationWindow,
    Delivery,
    DeliveryAttempt,
    InboundMedia,
    Message,
    MessageStatus,
    MessageTemplate,
)
from onboarding import selectors as onboarding_selectors
from onboarding.errors import NotFound
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount


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


def conversation_windows_open(
    *, phone_number_id: str, wa_ids: list[str], at: datetime | None = None
) -> set[str]:
    """Which of these customers' windows with the number are open."""
    return set(
        ConversationWindow.objects.filter(
            phone_number_id=phone_number_id, wa_id__in=wa_ids, expires_at__gt=at or timezone.now()
        ).values_list("wa_id", flat=True)
    )


# ---------------------------------------------------------------- sending (issue 7)


@dataclass(frozen=True)
class TemplateState:
    """What we know of a template a send names: None fields when we know nothing."""

    status: str | None
    components: list[Any] | None


@dataclass(frozen=True)
class Sender:
    """A Tech Provider's number found by its display digits, with what a send must check."""

    number: PhoneNumber
    window_open: bool | None  # for a single recipient; None when not asked
    template: TemplateState
    fallback: TemplateState


def _template_column(name: str, language: str, column: str) -> Subquery:
    rows = (
        MessageTemplate.objects.filter(waba_id=OuterRef("waba_id"), name=name, language=language)
        .exclude(status="DELETED")
        .order_by("-id")
        .values(column)[:1]
    )
    return Subquery(rows)


def sender_for_send(
    *,
    tech_provider: TechProvider,
    src: str,
    dst: str | None,
    template: tuple[str, str] | None,
    fallback: tuple[str, str] | None,
) -> Sender | None:
    """The number `src` of this Tech Provider, in one query with the single recipient's window
    expiry and the named templates' status and components (the accept path's only read)."""
    numbers = onboarding_selectors.phone_numbers_by_display_digits(
        tech_provider=tech_provider, digits=src
    )
    annotations: dict[str, Any] = {}
    if dst is not None:
        windows = ConversationWindow.objects.filter(
            phone_number_id=OuterRef("phone_number_id"), wa_id=dst
        ).values("expires_at")[:1]
        annotations["window_expires"] = Subquery(windows)
    for prefix, named in (("t", template), ("f", fallback)):
        if named:
            annotations[f"{prefix}_status"] = _template_column(*named, "status")
            annotations[f"{prefix}_components"] = _template_column(*named, "components")
    number = numbers.annotate(**annotations).first()
    if number is None:
        return None
    expires = getattr(number, "window_expires", None)

    def state(prefix: str) -> TemplateState:
        return TemplateState(
            getattr(number, f"{prefix}_status", None), getattr(number, f"{prefix}_components", None)
        )

    return Sender(
        number=number,
        window_open=None if dst is None else bool(expires and expires > timezone.now()),
        template=state("t"),
        fallback=state("f"),
    )


def message_list_for_tech_provider(
    *,
    tech_provider: TechProvider,
    state: str | None = None,
    src: str | None = None,
    dst: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    since_inclusive: bool = True,
    until_inclusive: bool = False,
    error_code: int | None = None,
) -> QuerySet[Message]:
    """This Tech Provider's messages, newest first, filtered by state, number and time."""
    messages = Message.objects.filter(tech_provider=tech_provider)
    if state:
        messages = messages.filter(state=state)
    if src:
        messages = messages.filter(src=src)
    if dst:
        messages = messages.filter(dst=dst)
    if since:
        messages = messages.filter(
            **{"created_at__gte" if since_inclusive else "created_at__gt": since}
        )
    if until:
        messages = messages.filter(
            **{"created_at__lte" if until_inclusive else "created_at__lt": until}
        )
    if error_code is not None:
        messages = messages.filter(error_code=error_code)
    return messages.order_by("-created_at", "-id")


def message_get_for_tech_provider(*, tech_provider: TechProvider, message_uuid: str) -> Message:
    """One message of this Tech Provider; another's (or a malformed uuid) answers not found."""
    try:
        key = uuid.UUID(message_uuid)
    except ValueError:
        raise NotFound("Message not found.") from None
    message = Message.objects.filter(tech_provider=tech_provider, uuid=key).first()
    if message is None:
        raise NotFound("Message not found.")
    return message


def template_list_for_waba(
    *,
    waba: WhatsAppBusinessAccount,
    status: str | None = None,
    name: str | None = None,
    category: str | None = None,
    language: str | None = None,
) -> QuerySet[MessageTemplate]:
    templates = MessageTemplate.objects.filter(waba=waba).exclude(status="DELETED")
    if status:
        templates = templates.filter(status=status.upper())
    if name:
        templates = templates.filter(name=name)
    if category:
        templates = templates.filter(category=category.upper())
    if language:
        templates = templates.filter(language=language)
    return templates.order_by("name", "language", "id")


def template_get_for_waba(*, waba: WhatsAppBusinessAccount, template_id: str) -> MessageTemplate:
    template = (
        MessageTemplate.objects.filter(waba=waba, template_id=template_id)
        .exclude(status="DELETED")
        .first()
    )
    if template is None:
        raise NotFound("Template not found.")
    return template


def inbound_media_get_for_tech_provider(
    *, tech_provider: TechProvider, media_id: str
) -> InboundMedia:
    media = InboundMedia.objects.filter(tech_provider=tech_provider, media_id=media_id).first()
    if media is None:
        raise NotFound("Media not found.")
    return media
