"""What a processed Meta event changes besides its delivery: statuses, windows, templates, limits,
alerts. Each function is idempotent and order-proof, because Meta retries and reorders.
"""

from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from messaging.meta_events import MESSAGE_RECEIVED, MESSAGE_STATUS, unix_time
from messaging.models import (
    ConversationWindow,
    MessageStatus,
    MessageTemplate,
    WabaAlert,
    WebhookEvent,
)
from messaging.services.quality import phone_numbers_refresh_later, quality_change_record
from onboarding import selectors as onboarding_selectors
from onboarding.models import WhatsAppBusinessAccount

# sent < delivered < read < played; failed outranks everything, so it is final.
RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 100}
WINDOW = timedelta(hours=24)
ALERT_KINDS = {
    "PARTNER_REMOVED",
    "DISABLED_UPDATE",
    "ACCOUNT_VIOLATION",
    "ACCOUNT_RESTRICTION",
    "ACCOUNT_DELETED",
    "ACCOUNT_OFFBOARDED",
}
OFFBOARDING_KINDS = {"PARTNER_REMOVED"}


def text(value: Any, limit: int = 255) -> str:
    """A string or number from Meta's JSON as text of at most `limit` characters, else ""."""
    return (
        str(value)[:limit] if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )


def message_status_apply(
    *, waba: WhatsAppBusinessAccount | None, phone_number_id: str, status: dict[str, Any]
) -> bool:
    """Move a message's status forward (never back); True when this status was new for it."""
    wamid, name = text(status.get("id"), 128), text(status.get("status"), 16)
    if not wamid or name not in RANK:
        return False
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    pricing = status["pricing"] if isinstance(status.get("pricing"), dict) else {}
    fields = {
        "status": name,
        "rank": RANK[name],
        "status_at": unix_time(status.get("timestamp")),
        "error_code": error.get("code") if isinstance(error.get("code"), int) else None,
        "error_title": text(error.get("title"), 500),
        "pricing_category": text(pricing.get("category"), 32),
    }
    row, created = MessageStatus.objects.get_or_create(
        wamid=wamid,
        defaults={
            **fields,
            "waba": waba,
            "phone_number_id": phone_number_id,
            "recipient_id": text(status.get("recipient_id"), 64),
            "biz_opaque_callback_data": text(status.get("biz_opaque_callback_data"), 512),
        },
    )
    if created:
        return True
    # One conditional UPDATE: two workers racing on the same wamid cannot move it backwards.
    fields["updated_at"] = timezone.now()
    if not fields["pricing_category"]:
        del fields["pricing_category"]
    return bool(MessageStatus.objects.filter(pk=row.pk, rank__lt=RANK[name]).update(**fields))


def conversation_window_extend(
    *, waba: WhatsAppBusinessAccount | None, phone_number_id: str, message: dict[str, Any]
) -> None:
    """An inbound message opens or extends the 24-hour window of (number, customer)."""
    wa_id = text(message.get("from") or message.get("from_user_id"), 64)
    if not phone_number_id or not wa_id:
        return
    now = timezone.now()
    at = min(unix_time(message.get("timestamp")) or now, now)
    values = {
        "last_inbound_at": at,
        "expires_at": at + WINDOW,
        "last_message_id": text(message.get("id"), 128),
        "waba": waba,
    }
    row, created = ConversationWindow.objects.get_or_create(
        phone_number_id=phone_number_id, wa_id=wa_id, defaults=values
    )
    if not created:  # an older message arriving late must not shorten the window
        ConversationWindow.objects.filter(pk=row.pk, last_inbound_at__lt=at).update(
            **values, updated_at=now
        )


def _template_changes(field: str, value: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(which timestamp column orders it, the columns it sets) for a template webhook."""
    if field == "message_template_status_update":
        reason = value.get("reason")
        info = value.get("rejection_info")
        if isinstance(info, dict) and info.get("reason"):
            reason = info.get("reason")
        changes = {
            "status": text(value.get("event"), 32),
            "status_reason": text(reason, 2000) if reason not in (None, "NONE") else "",
        }
        if value.get("message_template_category"):
            changes["category"] = text(value.get("message_template_category"), 32)
        return "status_updated_at", changes
    if field == "template_category_update":
        return "category_updated_at", {"category": text(value.get("new_category"), 32)}
    if field == "message_template_quality_update":
        return "quality_updated_at", {"quality_score": text(value.get("new_quality_score"), 16)}
    return "", {}


def template_update_apply(
    *, waba: WhatsAppBusinessAccount, field: str, value: dict[str, Any], at: datetime | None
) -> None:
    """Keep the template's status, category and quality at the latest Meta reported."""
    template_id = text(value.get("message_template_id"), 32)
    column, changes = _template_changes(field, value)
    changes = {k: v for k, v in changes.items() if v or k == "status_reason"}
    if not template_id or not column:
        return
    at = at or timezone.now()
    names = {
        "name": text(value.get("message_template_name"), 512),
        "language": text(value.get("message_template_language"), 16),
    }
    row, created = MessageTemplate.objects.get_or_create(
        template_id=template_id,
        defaults={"waba": waba, **{k: v for k, v in names.items() if v}, **changes, column: at},
    )
    if not created:
        stale = {f"{column}__gt": at}
        applied = (
            MessageTemplate.objects.filter(pk=row.pk)
            .exclude(**stale)
            .update(**changes, **{column: at}, updated_at=timezone.now())
        )
        if applied:
            _template_quality_record(row, changes, at)


def _template_quality_record(row: MessageTemplate, changes: dict[str, str], at: datetime) -> None:
    """Status and quality changes are QualityEvents; PAUSED, DISABLED and drops alert (issue 7)."""
    for kind, column in (("template_status", "status"), ("template_quality", "quality_score")):
        if column in changes:
            quality_change_record(
                waba=row.waba,
                kind=kind,
                previous=getattr(row, column),
                current=changes[column],
                source="webhook",
                template=row,
                at=at,
            )


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def phone_limits_apply(*, waba: WhatsAppBusinessAccount, field: str, value: dict[str, Any]) -> int:
    """phone_number_quality_update / business_capability_update: the numbers' messaging limit.

    Writes the onboarding PhoneNumber fields that only Meta's webhooks and reads keep current.
    """
    tier = text(value.get("max_daily_conversations_per_business"), 32)
    numbers = onboarding_selectors.phone_numbers_of_waba(waba)
    if field == "phone_number_quality_update":
        display = _digits(value.get("display_phone_number"))
        ids = [n.pk for n in numbers if _digits(n.display_phone_number) == display and display]
        numbers = numbers.filter(pk__in=ids)
        # the webhook names no rating: read the numbers' quality and throughput (issue 7)
        phone_numbers_refresh_later(phone_number_ids=[n.phone_number_id for n in numbers])
    if not tier:
        return 0
    for number in numbers:
        quality_change_record(
            waba=waba,
            kind="number_limit",
            previous=number.messaging_limit_tier,
            current=tier,
            source="webhook",
            phone_number_id=number.phone_number_id,
        )
    return numbers.update(messaging_limit_tier=tier, updated_at=timezone.now())


def account_update_apply(
    *, event: WebhookEvent, waba: WhatsAppBusinessAccount, value: dict[str, Any]
) -> WabaAlert | None:
    """Record bans, violations, restrictions and removals; PARTNER_REMOVED offboards the WABA."""
    kind = text(value.get("event"), 64)
    if kind not in ALERT_KINDS:
        return None
    alert, created = WabaAlert.objects.get_or_create(
        event=event,
        defaults={"waba": waba, "kind": kind, "detail": value, "occurred_at": event.occurred_at},
    )
    if created and kind in OFFBOARDING_KINDS:
        alert_id = alert.pk
        transaction.on_commit(
            lambda: current_app.send_task("messaging.waba_alert_handle", args=[alert_id])
        )
    return alert


def event_effects_apply(event: WebhookEvent, value: Any, waba: WhatsAppBusinessAccount) -> None:
    """Apply what `event` changes on our side (beyond forwarding it)."""
    if not isinstance(value, dict):
        return
    if event.event_type == MESSAGE_STATUS:
        for status in value.get("statuses") or []:
            if isinstance(status, dict):
                message_status_apply(
                    waba=waba, phone_number_id=event.phone_number_id, status=status
                )
    elif event.event_type == MESSAGE_RECEIVED:
        for message in value.get("messages") or []:
            if isinstance(message, dict):
                conversation_window_extend(
                    waba=waba, phone_number_id=event.phone_number_id, message=message
                )
    elif event.field in (
        "message_template_status_update",
        "template_category_update",
        "message_template_quality_update",
    ):
        template_update_apply(waba=waba, field=event.field, value=value, at=event.occurred_at)
    elif event.field in ("phone_number_quality_update", "business_capability_update"):
        phone_limits_apply(waba=waba, field=event.field, value=value)
    elif event.field == "account_update":
        account_update_apply(event=event, waba=waba, value=value)
