"""Sending messages as Cloud API does: validation, the 24-hour window, templates, throughput,
then status webhooks (sent, delivered, read; or failed) that arrive after the answer."""

import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from sandbox import clock, ids
from sandbox.graph.errors import GraphError, invalid_parameter
from sandbox.models import (
    SandboxConfig,
    SandboxMedia,
    SandboxMessage,
    SandboxPhoneNumber,
    SandboxTemplate,
    SandboxWindow,
)
from sandbox.services import events
from sandbox.services.bootstrap import sandbox_config_get
from sandbox.services.events import StatusStep
from sandbox.services.templates import placeholders

TYPES = (
    "text",
    "template",
    "interactive",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
)
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
INTERACTIVE_TYPES = (
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
    "address_message",
    "call_permission_request",
)
MAX_TEXT = 4096
WINDOW = timedelta(hours=24)
PAIR_WINDOW_S = 6
# Magic recipients: a `to` ending in one of these codes gets a failed status with it.
MAGIC_RECIPIENT_FAILURES = (131026, 131049, 131050, 131042)
_WA_ID = re.compile(r"^[0-9]{7,15}$")


def message_send(
    *, phone: SandboxPhoneNumber, params: dict[str, Any], version: str
) -> dict[str, Any]:
    """POST /{phone_number_id}/messages; answers with contacts and the wamid."""
    if params.get("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required and must be whatsapp")
    if not phone.is_registered:
        raise GraphError(133010)
    to = str(params.get("to") or params.get("recipient") or "")
    wa_id = re.sub(r"[^0-9]", "", to)
    if not to:
        raise invalid_parameter("The parameter to is required")
    if not _WA_ID.match(wa_id):
        raise invalid_parameter("Param to must be a phone number in international format")
    kind = str(params.get("type") or "text")
    if kind not in TYPES:
        raise invalid_parameter(f"Param type must be one of {{{', '.join(TYPES)}}}")
    content = params.get(kind)
    if not isinstance(content, dict) and kind != "contacts":
        raise invalid_parameter(f"The parameter {kind} is required")
    template = _validate(phone, kind, content)
    config = sandbox_config_get()
    window_open = kind == "template" or _window_open(phone, wa_id)
    if not window_open and config.reengagement_error == "sync":
        raise GraphError(131047)
    steps = _status_steps(wa_id, config, window_open)
    final = events.final_status(steps) or ("accepted", None)
    with transaction.atomic():
        SandboxPhoneNumber.objects.select_for_update().filter(pk=phone.pk).first()
        _check_rates(phone, wa_id, config)
        message = SandboxMessage.objects.create(
            wamid=ids.new_wamid(wa_id),
            phone_number=phone,
            direction="out",
            wa_id=wa_id,
            type=kind,
            payload={kind: content},
            biz_opaque_callback_data=str(params.get("biz_opaque_callback_data") or "")[:512],
            pricing_category=template.category.lower() if template else "service",
            status=final[0],
            error_code=final[1],
            api_version=version,
        )
        events.statuses_emit(message=message, steps=steps, stored=True)
    sent: dict[str, Any] = {"id": message.wamid}
    if template is not None:
        sent["message_status"] = "accepted"
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [sent],
    }


def _validate(phone: SandboxPhoneNumber, kind: str, content: Any) -> SandboxTemplate | None:
    if kind == "text":
        _validate_text(content)
    elif kind == "template":
        return _validate_template(phone, content)
    elif kind == "interactive":
        _validate_interactive(content)
    elif kind in MEDIA_TYPES:
        _validate_media(phone, kind, content)
    elif kind == "location" and not {"latitude", "longitude"} <= set(content):
        raise invalid_parameter("Param location requires latitude and longitude")
    elif kind == "contacts" and not (isinstance(content, list) and content):
        raise invalid_parameter("Param contacts must be a non-empty array")
    elif kind == "reaction" and "message_id" not in content:
        raise invalid_parameter("Param reaction['message_id'] is required")
    return None


def _validate_text(content: dict[str, Any]) -> None:
    body = content.get("body")
    if not isinstance(body, str) or not body:
        raise invalid_parameter("Param text['body'] is required")
    if len(body) > MAX_TEXT:
        raise invalid_parameter(f"Param text['body'] must be at most {MAX_TEXT} characters long")


def _validate_template(phone: SandboxPhoneNumber, content: dict[str, Any]) -> SandboxTemplate:
    name = content.get("name")
    language = content.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not name or not isinstance(code, str) or not code:
        raise invalid_parameter("Param template requires name and language['code']")
    template = (
        SandboxTemplate.objects.filter(waba_id=phone.waba_id, name=name, language=code)
        .exclude(status="DELETED")
        .first()
    )
    if template is None or template.status not in ("APPROVED", "PAUSED", "DISABLED"):
        raise GraphError(132001, details=f"template name ({name}) does not exist in {code}")
    if template.status == "PAUSED":
        raise GraphError(132015, details=f"Template {name} is paused")
    if template.status == "DISABLED":
        raise GraphError(132016, details=f"Template {name} is disabled")
    _validate_parameters(template, content.get("components") or [])
    return template


def _validate_parameters(template: SandboxTemplate, components: Any) -> None:
    if not isinstance(components, list):
        raise invalid_parameter("Param template['components'] must be an array")
    for kind in ("BODY", "HEADER"):
        spec = next((c for c in template.components if str(c.get("type")).upper() == kind), None)
        expected = placeholders(str(spec.get("text", ""))) if spec else 0
        given = next(
            (c for c in components if isinstance(c, dict) and str(c.get("type")).upper() == kind),
            None,
        )
        count = len(given.get("parameters") or []) if given else 0
        if kind == "HEADER" and spec and spec.get("format", "TEXT").upper() != "TEXT":
            continue
        if count != expected:
            raise GraphError(
                132000,
                details=f"{kind.lower()}: number of localizable_params ({count}) does not match "
                f"the expected number of params ({expected})",
            )


def _validate_interactive(content: dict[str, Any]) -> None:
    kind = content.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise invalid_parameter(f"Param interactive['type'] must be one of {INTERACTIVE_TYPES}")
    action = content.get("action")
    if not isinstance(action, dict):
        raise invalid_parameter("Param interactive['action'] is required")
    if kind in ("button", "list", "cta_url") and not (content.get("body") or {}).get("text"):
        raise invalid_parameter("Param interactive['body']['text'] is required")
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise GraphError(131009, details="Buttons count must be between 1 and 3")
    if kind == "list":
        sections = action.get("sections")
        rows = sum(len(s.get("rows") or []) for s in sections or [] if isinstance(s, dict))
        if not isinstance(sections, list) or not sections or not 1 <= rows <= 10:
            raise GraphError(131009, details="A list needs 1 to 10 rows in its sections")
    if kind == "cta_url" and not (action.get("parameters") or {}).get("url"):
        raise invalid_parameter("Param interactive['action']['parameters']['url'] is required")


def _validate_media(phone: SandboxPhoneNumber, kind: str, content: dict[str, Any]) -> None:
    media_id, link = content.get("id"), content.get("link")
    if not media_id and not link:
        raise invalid_parameter(f"Param {kind} requires id or link")
    if (
        media_id
        and not SandboxMedia.objects.filter(
            media_id=str(media_id), phone_number__waba_id=phone.waba_id, deleted_at__isnull=True
        ).exists()
    ):
        raise invalid_parameter(f"Param {kind}['id'] is not a valid media id")


def _window_open(phone: SandboxPhoneNumber, wa_id: str) -> bool:
    return SandboxWindow.objects.filter(
        phone_number=phone, wa_id=wa_id, last_inbound_at__gt=clock.now() - WINDOW
    ).exists()


def _check_rates(phone: SandboxPhoneNumber, wa_id: str, config: SandboxConfig) -> None:
    """Throughput per number per second (130429) and the pair rate per recipient (131056).
    Counted in wall time: these are about how fast requests arrive, not simulated time."""
    if not config.enforce_throughput:
        return
    now = timezone.now()
    second, pair = now - timedelta(seconds=1), now - timedelta(seconds=PAIR_WINDOW_S)
    counts = SandboxMessage.objects.filter(
        phone_number=phone, direction="out", created_at__gt=min(second, pair)
    ).aggregate(  # both windows in one read
        in_second=Count("pk", filter=Q(created_at__gt=second)),
        pair=Count("pk", filter=Q(wa_id=wa_id, created_at__gt=pair)),
    )
    if counts["in_second"] >= phone.throughput_mps:
        raise GraphError(130429)
    if counts["pair"] >= config.pair_rate_burst:
        raise GraphError(131056)


def _status_steps(wa_id: str, config: SandboxConfig, window_open: bool) -> list[StatusStep]:
    """What Cloud API reports after accepting: sent, delivered (and read), or one failure."""
    if not window_open:
        return [StatusStep("failed", 131047)]
    magic = next((c for c in MAGIC_RECIPIENT_FAILURES if wa_id.endswith(str(c))), None)
    if magic is not None:
        return [StatusStep("failed", magic)]
    steps = [StatusStep("sent"), StatusStep("delivered", delay_ms=config.delivered_after_ms)]
    if config.read_after_ms is not None:
        delay = max(config.read_after_ms, config.delivered_after_ms + 1)
        steps.append(StatusStep("read", delay_ms=delay))
    return steps
