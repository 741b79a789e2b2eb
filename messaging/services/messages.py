"""Accepting a send: check it as Meta would, then one INSERT of outbox rows and a nudge.

The accept path is one read (the sending number, the recipient's window and the named
templates, in one query; a second only for several recipients) and one INSERT; no broker
publish per request: the outbox rows are the work, and the send pump is nudged at most every
WEBHOOK_KICK_INTERVAL_S per process (messaging.services.nudge), with beat as the backstop.
What Meta would refuse is refused here, with the rule in plain words: a number that is not the
caller's or cannot send, free-form content outside the 24-hour window (unless a
fallback_template is named, which is then sent instead), a template that is not APPROVED or
whose parameters do not match.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from config.sql import instance_insert
from messaging import selectors
from messaging.message_input import Content, SendRequest, TemplateRef
from messaging.models import Message
from messaging.services.nudge import nudge
from onboarding.errors import InvalidRequest
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount

SEND_MESSAGES = "messaging.messages_send"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_LIST_AT_MOST = 5


@dataclass(frozen=True)
class Accepted:
    message_uuids: list[str]
    fallback_uuids: list[str] = field(default_factory=list)


def placeholders(text: str) -> int:
    """How many distinct {{n}} / {{name}} variables a template text has."""
    return len(set(_PLACEHOLDER.findall(text)))


def _expected(components: list[Any], kind: str) -> int | None:
    for component in components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            if kind == "HEADER" and str(component.get("format", "TEXT")).upper() != "TEXT":
                return None
            return placeholders(str(component.get("text") or ""))
    return 0


def _check_template(state: selectors.TemplateState, ref: TemplateRef, field_name: str) -> None:
    label = f"{field_name} '{ref.name}' ({ref.language})"
    if state.status is None:
        raise InvalidRequest(
            f"{label} does not exist for this WhatsApp Business Account. Create it with the "
            "Template API, or sync templates made elsewhere (POST WhatsApp/Template/{waba_id}/"
            "Sync/)."
        )
    if state.status != "APPROVED":
        raise InvalidRequest(f"{label} is {state.status}: only APPROVED templates can be sent.")
    for kind, given in (("BODY", ref.body_params), ("HEADER", ref.header_params)):
        expected = _expected(state.components or [], kind) if state.components else None
        if expected is not None and expected != given:
            raise InvalidRequest(
                f"{label} expects {expected} {kind.lower()} parameter(s); {given} given."
            )


def _check_number(sender: selectors.Sender, src: str) -> None:
    if sender.waba_status != WhatsAppBusinessAccount.Status.ACTIVE:
        raise InvalidRequest(
            f"src +{src} cannot send: its WhatsApp Business Account is {sender.waba_status}, "
            "not active."
        )
    registered = sender.registration == PhoneNumber.Registration.REGISTERED
    if not (registered or sender.is_coexistence):
        raise InvalidRequest(
            f"src +{src} cannot send: it is not registered on the WhatsApp Cloud API "
            f"(registration {sender.registration})."
        )


def _closed(sender: selectors.Sender, request: SendRequest) -> list[str]:
    """The recipients whose 24-hour window is closed, when the content needs it open."""
    if not request.content.free_form:
        return []
    if len(request.dsts) == 1:
        return [] if sender.window_open else list(request.dsts)
    open_now = selectors.conversation_windows_open(
        phone_number_id=sender.phone_number_id, wa_ids=list(request.dsts)
    )
    return [dst for dst in request.dsts if dst not in open_now]


def _window_refusal(closed: list[str]) -> InvalidRequest:
    shown = ", ".join(f"+{d}" for d in closed[:_LIST_AT_MOST])
    more = f" and {len(closed) - _LIST_AT_MOST} more" if len(closed) > _LIST_AT_MOST else ""
    return InvalidRequest(
        f"The 24-hour customer service window is closed for {shown}{more}: they have not "
        "written in the last 24 hours. Free-form messages need an open window; send an "
        "approved template (template), or name a fallback_template to use when it is closed."
    )


def _row(
    tech_provider: TechProvider,
    sender: selectors.Sender,
    request: SendRequest,
    dst: str,
    content: Content,
    *,
    fallback_used: bool,
) -> Message:
    now = timezone.now()
    template = content.template
    return Message(
        tech_provider=tech_provider,
        waba_id=sender.waba_pk,
        sender_id=sender.number_pk,
        phone_number_id=sender.phone_number_id,
        src=request.src,
        dst=dst,
        kind=content.kind,
        content=content.body,
        fallback=request.fallback.body if request.fallback and not fallback_used else None,
        fallback_used=fallback_used,
        template_name=template.name if template else "",
        template_language=template.language if template else "",
        callback_url=request.callback_url,
        callback_method=request.callback_method,
        next_attempt_at=now,
        expires_at=now + timedelta(seconds=request.expiry_s) if request.expiry_s else None,
    )


def sender_lookup(request: SendRequest) -> dict[str, Any]:
    """What selectors.sender_for_send needs to know of a send (besides the Tech Provider)."""
    content, fallback = request.content, request.fallback
    return {
        "src": request.src,
        "dst": request.dsts[0] if len(request.dsts) == 1 else None,
        "template": (content.template.name, content.template.language)
        if content.template
        else None,
        "fallback": (fallback.template.name, fallback.template.language)
        if fallback and fallback.template
        else None,
    }


def message_send_accept(
    *, tech_provider: TechProvider, request: SendRequest, sender: selectors.Sender | None = None
) -> Accepted:
    """Check a send and queue one outbox row per recipient (one INSERT), or refuse it whole.

    `sender` is the sending number if the caller has read it already (with sender_lookup).
    """
    content, fallback = request.content, request.fallback
    if sender is None:
        sender = selectors.sender_for_send(tech_provider=tech_provider, **sender_lookup(request))
    if sender is None:
        raise InvalidRequest(f"src +{request.src} is not a WhatsApp number of this account.")
    _check_number(sender, request.src)
    if content.template:
        _check_template(sender.template, content.template, "template")
    if fallback and fallback.template:
        _check_template(sender.fallback, fallback.template, "fallback_template")
    closed = _closed(sender, request)
    if closed and fallback is None:
        raise _window_refusal(closed)
    rows = [
        _row(tech_provider, sender, request, dst, fallback, fallback_used=True)
        if dst in closed and fallback
        else _row(tech_provider, sender, request, dst, content, fallback_used=False)
        for dst in request.dsts
    ]
    if len(rows) == 1:  # one INSERT, committed by itself unless a caller's transaction is open
        instance_insert(rows[0])
    else:
        Message.objects.bulk_create(rows)  # one INSERT in one transaction
    nudge(SEND_MESSAGES)  # after the commit, at most one per WEBHOOK_KICK_INTERVAL_S
    return Accepted(
        message_uuids=[str(row.uuid) for row in rows],
        fallback_uuids=[str(row.uuid) for row in rows if row.fallback_used],
    )
