"""Reads of messaging state, for the APIs, admin and the message-sending side (issue 7)."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
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
    """A Tech Provider's number found by its display digits, with what a send must check.

    Plain values, not model instances: the accept path is hot, and loading the number and its
    WABA would decrypt their secrets for nothing."""

    number_pk: int
    phone_number_id: str
    registration: str
    is_coexistence: bool
    waba_pk: int
    waba_status: str
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


def _sender_row_orm(
    tech_provider: TechProvider,
    src: str,
    dst: str | None,
    template: tuple[str, str] | None,
    fallback: tuple[str, str] | None,
) -> dict[str, Any] | None:
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
    return numbers.annotate(**annotations).values(*SENDER_COLUMNS, *annotations).first()


def _digits_sql(column: str) -> str:
    for mark in ("+", " ", "-", "(", ")", "."):
        column = f"replace({column}, '{mark}', '')"
    return column


def _template_sql(column: str) -> str:
    table = MessageTemplate._meta.db_table
    return (  # only our own names are formatted in
        f"(SELECT t.{column} FROM {table} t WHERE t.waba_id = p.waba_id AND t.name = %s "  # noqa: S608
        "AND t.language = %s AND t.status <> 'DELETED' ORDER BY t.id DESC LIMIT 1)"
    )


# The same read as _sender_row_orm, as one static statement: this is the send API's hot path,
# and building that query with the ORM costs several times what PostgreSQL spends running it.
# Only our own table and column names are formatted in; every value is a parameter.
_SENDER_SQL = (
    "SELECT p.id, p.phone_number_id, p.registration, p.is_coexistence, p.waba_id, w.status, "  # noqa: S608
    f"(SELECT c.expires_at FROM {ConversationWindow._meta.db_table} c "
    "WHERE c.phone_number_id = p.phone_number_id AND c.wa_id = %s), "
    f"{_template_sql('status')}, {_template_sql('components')}, "
    f"{_template_sql('status')}, {_template_sql('components')} "
    f"FROM {PhoneNumber._meta.db_table} p "
    f"JOIN {WhatsAppBusinessAccount._meta.db_table} w ON w.id = p.waba_id "
    f"WHERE w.tech_provider_id = %s AND {_digits_sql('p.display_phone_number')} = %s "
    "ORDER BY CASE WHEN w.status = 'active' THEN 0 ELSE 1 END, p.id DESC LIMIT 1"
)
SENDER_COLUMNS = (
    "id",
    "phone_number_id",
    "registration",
    "is_coexistence",
    "waba_id",
    "waba__status",
)
_SENDER_EXTRA = ("window_expires", "t_status", "t_components", "f_status", "f_components")


def _sender_params(
    dst: str | None, template: tuple[str, str] | None, fallback: tuple[str, str] | None
) -> list[str | int]:
    """_SENDER_SQL's parameters up to its Tech Provider (the window's and the templates')."""
    t_name, t_language = template or ("", "")
    f_name, f_language = fallback or ("", "")
    return [
        dst or "",
        t_name,
        t_language,
        t_name,
        t_language,
        f_name,
        f_language,
        f_name,
        f_language,
    ]


def _sender_row_sql(
    tech_provider: TechProvider,
    src: str,
    dst: str | None,
    template: tuple[str, str] | None,
    fallback: tuple[str, str] | None,
) -> dict[str, Any] | None:
    params = [*_sender_params(dst, template, fallback), tech_provider.pk, src]
    with connection.cursor() as cursor:
        cursor.execute(_SENDER_SQL, params)
        return _sender_row(cursor.fetchone(), dst)


# The Tech Provider a credential names (onboarding's auth read) and, beside it, the same read as
# _SENDER_SQL for that Tech Provider: the send API's one statement before its INSERT.
_AUTH_AND_SENDER_SQL = (
    f"SELECT {', '.join(f'tp.{c}' for c in onboarding_selectors.TECH_PROVIDER_AUTH_COLUMNS)}, "  # noqa: S608
    f"s.* FROM {TechProvider._meta.db_table} tp LEFT JOIN LATERAL ("
    + _SENDER_SQL.replace("w.tech_provider_id = %s", "w.tech_provider_id = tp.id")
    + ") s ON true WHERE tp.auth_id = %s"
)


def _sender_from_row(row: dict[str, Any] | None, dst: str | None) -> Sender | None:
    if row is None:
        return None
    expires = row.get("window_expires")

    def state(prefix: str) -> TemplateState:
        return TemplateState(row.get(f"{prefix}_status"), row.get(f"{prefix}_components"))

    return Sender(
        number_pk=row["id"],
        phone_number_id=row["phone_number_id"],
        registration=row["registration"],
        is_coexistence=row["is_coexistence"],
        waba_pk=row["waba_id"],
        waba_status=row["waba__status"],
        window_open=None if dst is None else bool(expires and expires > timezone.now()),
        template=state("t"),
        fallback=state("f"),
    )


def _sender_row(found: tuple[Any, ...] | None, dst: str | None) -> dict[str, Any] | None:
    """A row of _SENDER_SQL's columns as a dict; None when there is no such number."""
    if found is None or found[0] is None:
        return None
    row = dict(zip((*SENDER_COLUMNS, *_SENDER_EXTRA), found, strict=True))
    for key in ("t_components", "f_components"):  # Django has psycopg hand JSON over as text
        if isinstance(row[key], str):
            row[key] = json.loads(row[key])
    if dst is None:
        del row["window_expires"]
    return row


def tech_provider_and_sender(
    *,
    auth_id: str,
    src: str,
    dst: str | None,
    template: tuple[str, str] | None,
    fallback: tuple[str, str] | None,
) -> tuple[TechProvider | None, Sender | None]:
    """The Tech Provider `auth_id` names, for its credentials to be checked, and its number
    `src` as sender_for_send reads it, in one statement on PostgreSQL (the send API's hot path).

    Nothing here says the caller is that Tech Provider: check the credentials before using
    either."""
    if connection.vendor != "postgresql":
        found = onboarding_selectors.tech_provider_for_auth(auth_id)
        if found is None:
            return None, None
        sender = sender_for_send(
            tech_provider=found, src=src, dst=dst, template=template, fallback=fallback
        )
        return found, sender
    with connection.cursor() as cursor:
        cursor.execute(
            _AUTH_AND_SENDER_SQL, [*_sender_params(dst, template, fallback), src, auth_id]
        )
        found = cursor.fetchone()
    if found is None:
        return None, None
    width = len(onboarding_selectors.TECH_PROVIDER_AUTH_COLUMNS)
    tech_provider = onboarding_selectors.tech_provider_from_auth_row(found[:width])
    return tech_provider, _sender_from_row(_sender_row(found[width:], dst), dst)


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
    read = _sender_row_sql if connection.vendor == "postgresql" else _sender_row_orm
    return _sender_from_row(read(tech_provider, src, dst, template, fallback), dst)


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
