"""Events Meta pushes: message statuses, customers' inbound messages, number quality and
account updates. Each becomes a webhook in Meta's shape, queued for delivery."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction

from sandbox import clock, ids
from sandbox.graph.errors import CATALOGUE, ERROR_CODES_HREF
from sandbox.models import (
    SandboxMessage,
    SandboxPhoneNumber,
    SandboxSubscription,
    SandboxWaba,
    SandboxWabaShare,
    SandboxWebhook,
    SandboxWindow,
)
from sandbox.services import webhooks
from sandbox.services.media import PLACEHOLDER_PNG, media_create

STATUSES = ("sent", "delivered", "read", "played", "failed")
TRACKED = ("sent", "delivered", "read", "failed")  # what the message row remembers
INBOUND_TYPES = (
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "button",
    "interactive",
    "reaction",
)
MEDIA_MIME = {
    "image": "image/png",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/pdf",
    "sticker": "image/webp",
}
QUALITY_EVENTS = (
    "FLAGGED",
    "UNFLAGGED",
    "ONBOARDING",
    "THROUGHPUT_UPGRADE",
    "UPGRADE",
    "DOWNGRADE",
)
ACCOUNT_EVENTS = (
    "PARTNER_ADDED",
    "PARTNER_REMOVED",
    "DISABLED_UPDATE",
    "ACCOUNT_VIOLATION",
    "ACCOUNT_RESTRICTION",
    "ACCOUNT_DELETED",
    "ACCOUNT_OFFBOARDED",
    "ACCOUNT_RECONNECTED",
)
# account_update events whose entry id is the partner's business, not the WABA (Meta's quirk).
PARTNER_EVENTS = (
    "PARTNER_ADDED",
    "PARTNER_REMOVED",
    "PARTNER_APP_INSTALLED",
    "PARTNER_APP_UNINSTALLED",
)


def _status_object(message: SandboxMessage, status: str, at: int, error_code: int | None) -> dict:
    value: dict[str, Any] = {
        "id": message.wamid,
        "status": status,
        "timestamp": str(at),
        "recipient_id": message.wa_id,
    }
    if message.biz_opaque_callback_data:
        value["biz_opaque_callback_data"] = message.biz_opaque_callback_data
    if status in ("sent", "delivered") and message.pricing_category:
        service = message.pricing_category == "service"
        value["pricing"] = {
            "billable": not service,
            "pricing_model": "PMP",
            "type": "free_customer_service" if service else "regular",
            "category": message.pricing_category,
        }
        if _before_v24(message.api_version):
            value["conversation"] = {
                "id": ids.digest(message.wa_id + message.phone_number.phone_number_id)[:32],
                "origin": {"type": message.pricing_category},
            }
    if status == "failed":
        value["errors"] = [_error_object(error_code or 131000)]
    return value


def _error_object(code: int) -> dict[str, Any]:
    spec = CATALOGUE.get(code)
    title = spec.message.split(") ", 1)[-1] if spec else "Error"
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": (spec.details if spec and spec.details else title)},
        "href": ERROR_CODES_HREF,
    }


def _before_v24(version: str) -> bool:
    try:
        return float(version.lstrip("v")) < 24
    except ValueError:
        return False


def _messages_body(phone: SandboxPhoneNumber, value: dict[str, Any]) -> str:
    full = {"messaging_product": "whatsapp", "metadata": webhooks.metadata(phone), **value}
    return webhooks.envelope(
        entry_id=phone.waba.waba_id, changes=[("messages", full)], with_time=False
    )


def status_emit(
    *, message: SandboxMessage, status: str, error_code: int | None = None, delay_ms: int = 0
) -> list[SandboxWebhook]:
    """One status webhook for an outbound message, `delay_ms` from now."""
    return statuses_emit(message=message, steps=[StatusStep(status, error_code, delay_ms)])


@dataclass(frozen=True)
class StatusStep:
    """A status webhook to emit: which status, its error code (failed) and its delay."""

    status: str
    error_code: int | None = None
    delay_ms: int = 0


def final_status(steps: list[StatusStep]) -> tuple[str, int | None] | None:
    """The status and error code a message row is left with after these steps, if any."""
    tracked = [step for step in steps if step.status in TRACKED]
    return (tracked[-1].status, tracked[-1].error_code) if tracked else None


def statuses_emit(
    *, message: SandboxMessage, steps: list[StatusStep], stored: bool = False
) -> list[SandboxWebhook]:
    """Status webhooks for an outbound message, queued as `status_emit` calls in that order
    would queue them. The message row keeps the last tracked status (`final_status`); `stored`
    says the caller already wrote it there."""
    final = final_status(steps)
    if final is not None and not stored:
        SandboxMessage.objects.filter(pk=message.pk).update(status=final[0], error_code=final[1])
    posts = []
    for step in steps:
        at = int((clock.now() + timedelta(milliseconds=step.delay_ms)).timestamp())
        value = {"statuses": [_status_object(message, step.status, at, step.error_code)]}
        posts.append(
            webhooks.Queued(
                _messages_body(message.phone_number, value),
                f"status {step.status} {message.wamid[:40]}",
                step.delay_ms,
            )
        )
    return webhooks.webhooks_enqueue_for_waba(
        waba=message.phone_number.waba, field="messages", posts=posts, phone=message.phone_number
    )


@transaction.atomic
def statuses_inject(
    *,
    message: SandboxMessage,
    statuses: list[str],
    batch: bool = False,
    duplicate: int = 0,
    error_code: int | None = None,
) -> list[SandboxWebhook]:
    """Statuses in the order given (e.g. read before delivered), one POST each or all in one
    (`batch`), each POST sent 1 + `duplicate` times."""
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        raise ValueError(f"statuses must be a non-empty list of {', '.join(STATUSES)}")
    now = int(clock.now().timestamp())
    objects = [_status_object(message, s, now + i, error_code) for i, s in enumerate(statuses)]
    groups = [objects] if batch else [[obj] for obj in objects]
    hooks: list[SandboxWebhook] = []
    for step, group in enumerate(groups):
        body = _messages_body(message.phone_number, {"statuses": group})
        for _ in range(1 + duplicate):
            hooks += webhooks.webhook_enqueue_for_waba(
                waba=message.phone_number.waba,
                field="messages",
                body=body,
                phone=message.phone_number,
                delay_ms=step,
                description=f"injected statuses {','.join(s['status'] for s in group)}",
            )
    return hooks


@transaction.atomic
def inbound_inject(
    *,
    phone: SandboxPhoneNumber,
    from_wa_id: str,
    kind: str = "text",
    text: str = "Hello from the sandbox",
    profile_name: str = "Sandbox Customer",
    duplicate: int = 0,
    media_content: bytes | None = None,
    mime_type: str = "",
    extra: dict[str, Any] | None = None,
) -> tuple[SandboxMessage, list[SandboxWebhook]]:
    """A customer writes to the business: the window opens and a `messages` webhook is sent
    (1 + `duplicate` times, byte for byte, as Meta's retries do)."""
    if kind not in INBOUND_TYPES:
        raise ValueError(f"type must be one of {', '.join(INBOUND_TYPES)}")
    now = clock.now()
    message = SandboxMessage.objects.create(
        wamid=ids.new_wamid(from_wa_id),
        phone_number=phone,
        direction="in",
        wa_id=from_wa_id,
        type=kind,
        payload={},
    )
    content = _inbound_content(phone, kind, text, media_content, mime_type)
    entry = {
        "from": from_wa_id,
        "id": message.wamid,
        "timestamp": str(int(now.timestamp())),
        "type": kind,
        kind: content,
        **(extra or {}),
    }
    message.payload = entry
    message.save(update_fields=["payload", "updated_at"])
    SandboxWindow.objects.update_or_create(
        phone_number=phone, wa_id=from_wa_id, defaults={"last_inbound_at": now}
    )
    body = _messages_body(
        phone,
        {
            "contacts": [{"profile": {"name": profile_name}, "wa_id": from_wa_id}],
            "messages": [entry],
        },
    )
    hooks: list[SandboxWebhook] = []
    for _ in range(1 + duplicate):
        hooks += webhooks.webhook_enqueue_for_waba(
            waba=phone.waba,
            field="messages",
            body=body,
            phone=phone,
            description=f"inbound {kind} from {from_wa_id}",
        )
    return message, hooks


def _inbound_content(
    phone: SandboxPhoneNumber, kind: str, text: str, content: bytes | None, mime_type: str
) -> dict[str, Any]:
    if kind == "text":
        return {"body": text}
    if kind in MEDIA_MIME:
        data = content if content is not None else PLACEHOLDER_PNG
        media = media_create(
            phone=phone,
            content=data,
            mime_type=mime_type or MEDIA_MIME[kind],
            filename=f"{kind}.bin" if kind == "document" else "",
        )
        found: dict[str, Any] = {
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "id": media.media_id,
        }
        if text and kind in ("image", "video", "document"):
            found["caption"] = text
        return found
    if kind == "location":
        return {"latitude": 19.076, "longitude": 72.8777, "name": text}
    if kind == "button":
        return {"payload": text, "text": text}
    if kind == "interactive":
        return {"type": "button_reply", "button_reply": {"id": "sandbox-reply", "title": text}}
    return {"message_id": "", "emoji": text or "\N{THUMBS UP SIGN}"}


@transaction.atomic
def quality_update(
    *,
    phone: SandboxPhoneNumber,
    event: str,
    quality_rating: str = "",
    messaging_limit_tier: str = "",
    throughput_level: str = "",
) -> list[SandboxWebhook]:
    """phone_number_quality_update (not overridable: the app-level callback)."""
    if event not in QUALITY_EVENTS:
        raise ValueError(f"event must be one of {', '.join(QUALITY_EVENTS)}")
    phone.quality_rating = quality_rating or phone.quality_rating
    phone.messaging_limit_tier = messaging_limit_tier or phone.messaging_limit_tier
    phone.throughput_level = throughput_level or phone.throughput_level
    phone.save()
    value = {
        "display_phone_number": phone.display_phone_number,
        "event": event,
        "current_limit": phone.messaging_limit_tier,
        "max_daily_conversations_per_business": phone.messaging_limit_tier,
    }
    body = webhooks.envelope(
        entry_id=phone.waba.waba_id,
        changes=[("phone_number_quality_update", value)],
        with_time=True,
    )
    return webhooks.webhook_enqueue_for_waba(
        waba=phone.waba,
        field="phone_number_quality_update",
        body=body,
        phone=phone,
        description=f"quality {event} {phone.display_phone_number}",
    )


@transaction.atomic
def account_update(
    *, waba: SandboxWaba, event: str, extra: dict[str, Any] | None = None
) -> list[SandboxWebhook]:
    """account_update to every app the WABA is shared with. PARTNER_REMOVED also unshares the
    WABA (the partner loses access, as at Meta)."""
    if event not in ACCOUNT_EVENTS:
        raise ValueError(f"event must be one of {', '.join(ACCOUNT_EVENTS)}")
    hooks = []
    shares = list(SandboxWabaShare.objects.filter(waba=waba).select_related("app__business"))
    for share in shares:
        value: dict[str, Any] = {"event": event, **(extra or {})}
        if event in PARTNER_EVENTS:
            entry_id = share.app.business.business_id
            value["waba_info"] = {
                "waba_id": waba.waba_id,
                "owner_business_id": waba.business.business_id,
            }
        else:
            entry_id = waba.waba_id
        body = webhooks.envelope(
            entry_id=entry_id, changes=[("account_update", value)], with_time=True
        )
        hooks.append(
            webhooks.webhook_enqueue_for_app(
                app=share.app,
                field="account_update",
                waba_id=waba.waba_id,
                body=body,
                description=f"account_update {event}",
            )
        )
    if event == "PARTNER_REMOVED":
        SandboxWabaShare.objects.filter(waba=waba).delete()
        SandboxSubscription.objects.filter(waba=waba).delete()
    return hooks
