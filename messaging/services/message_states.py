"""How an outbox message's state moves, and what a move sets off.

Ranks: queued and sending 0, sent 2, delivered 3, read 4, failed and undelivered 100 (final).
Meta's status webhooks only ever raise the rank (`UPDATE ... WHERE rank < new`), so statuses
that arrive late, twice or out of order cannot move a message back; they reach the message by
the uuid we sent as `biz_opaque_callback_data` (so a status that beats our own record of the
wamid still lands), else by wamid. Every move that happened queues a Plivo-style status
callback when the message has a `url`; a failure on our side (Meta never had the message) is
also delivered to the Tech Provider's endpoint as `message.failed`, since no Meta event will be.
A 131047 from Meta corrects our view of the customer's 24-hour window.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.models import ConversationWindow, Message, StatusCallback
from messaging.services.batch_effects import StatusRow
from messaging.services.deliveries import tech_provider_event_deliver
from messaging.services.nudge import nudge

logger = logging.getLogger(__name__)

State = Message.State
RANK: dict[str, int] = {
    State.QUEUED: 0,
    State.SENDING: 0,
    State.SENT: 2,
    State.DELIVERED: 3,
    State.READ: 4,
    State.FAILED: 100,
    State.UNDELIVERED: 100,
}
FINAL = frozenset({State.FAILED, State.UNDELIVERED})
_TIME_FIELD: dict[str, str] = {
    State.SENT: "sent_at",
    State.DELIVERED: "delivered_at",
    State.READ: "read_at",
    State.FAILED: "failed_at",
    State.UNDELIVERED: "failed_at",
}
# Meta took the message but could not deliver it: Plivo's `undelivered`. Other failures Meta
# reports (re-engagement, template, parameter, account errors) mean it was never sent: `failed`.
UNDELIVERED_CODES = frozenset({131026, 131049, 131050, 130472, 131053})
REENGAGEMENT = 131047
SEND_CALLBACKS = "messaging.status_callbacks_send"
_META_STATE = {"sent": State.SENT, "delivered": State.DELIVERED, "read": State.READ}


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else ""


def callback_params(message: Message, state: str, sequence: int) -> dict[str, Any]:
    """Plivo's status callback fields for a message in `state`."""
    params: dict[str, Any] = {
        "MessageUUID": str(message.uuid),
        "From": message.src,
        "To": message.dst,
        "Type": "whatsapp",
        "ContentType": message.kind,
        "Status": state,
        "ErrorCode": str(message.error_code) if message.error_code else "",
        "MessageTime": _iso(message.created_at),
        "Sequence": sequence,
        "WhatsAppMessageID": message.wamid or "",
        "ConversationOrigin": message.pricing_category,
    }
    if message.error_message:
        params["ErrorMessage"] = message.error_message
    if message.fallback_used:
        params["FallbackTemplate"] = message.template_name
    return params


def message_moved(*, message: Message, state: str) -> None:
    """After a move to `state` was written: its callback, and our own failure event."""
    with transaction.atomic():
        if message.callback_url:
            # Numbered in the database: a pump and a webhook may move one message at once.
            rows = Message.objects.filter(pk=message.pk)
            rows.update(callback_sequence=F("callback_sequence") + 1)
            sequence = rows.values_list("callback_sequence", flat=True).get()
            message.callback_sequence = sequence
            StatusCallback.objects.create(
                message=message,
                sequence=sequence,
                status=state,
                url=message.callback_url,
                method=message.callback_method,
                params=callback_params(message, state, sequence),
                next_attempt_at=timezone.now(),
            )
            nudge(SEND_CALLBACKS)
        if state == State.FAILED and not message.wamid:
            tech_provider_event_deliver(
                tech_provider=message.tech_provider,
                event_type="message.failed",
                data=message_event_data(message),
                key=f"message-failed:{message.uuid}",
                waba_id=message.waba.waba_id,
            )


def message_event_data(message: Message) -> dict[str, Any]:
    return {
        "message_uuid": str(message.uuid),
        "from": message.src,
        "to": message.dst,
        "phone_number_id": message.phone_number_id,
        "state": message.state,
        "error_code": message.error_code,
        "error_message": message.error_message or None,
        "fallback_used": message.fallback_used,
    }


def message_fail(*, message: Message, code: int | None, reason: str, owner: str = "") -> bool:
    """Fail a message that has not gone further; True when this call failed it."""
    rows = Message.objects.filter(pk=message.pk, rank__lt=RANK[State.FAILED])
    if owner:
        rows = rows.filter(lease_owner=owner)
    now = timezone.now()
    changed = rows.update(
        state=State.FAILED,
        rank=RANK[State.FAILED],
        error_code=code,
        error_message=reason[:2000],
        failed_at=now,
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=None,
        updated_at=now,
    )
    if changed:
        message.state, message.error_code, message.error_message = State.FAILED, code, reason
        message.rank, message.failed_at = RANK[State.FAILED], now
        message_moved(message=message, state=State.FAILED)
    return bool(changed)


# ---------------------------------------------------------------- Meta's statuses


@dataclass(frozen=True)
class _Move:
    message_id: int
    state: str
    rank: int
    at: datetime
    wamid: str
    error_code: int | None
    error_title: str
    pricing: str


def _state_of(row: StatusRow) -> str | None:
    if row.status == "failed":
        return State.UNDELIVERED if row.error_code in UNDELIVERED_CODES else State.FAILED
    return _META_STATE.get(row.status)  # "played" is not a message state of ours


def _callback_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _moves(rows: list[StatusRow]) -> list[_Move]:
    by_uuid = {u: r for r in rows if (u := _callback_uuid(r.callback_data))}
    by_wamid = {r.wamid: r for r in rows}
    found = Message.objects.filter(Q(uuid__in=by_uuid) | Q(wamid__in=by_wamid)).values_list(
        "id", "uuid", "wamid"
    )
    best: dict[int, _Move] = {}
    for message_id, message_uuid, wamid in found:
        row = by_uuid.get(message_uuid) or by_wamid.get(wamid or "")
        state = _state_of(row) if row else None
        if row is None or state is None:
            continue
        move = _Move(
            message_id,
            state,
            RANK[state],
            row.status_at or timezone.now(),
            row.wamid,
            row.error_code,
            row.error_title,
            row.pricing_category,
        )
        if message_id not in best or best[message_id].rank < move.rank:
            best[message_id] = move
    return sorted(best.values(), key=lambda m: m.message_id)


def _apply_move(move: _Move) -> bool:
    fields: dict[str, Any] = {
        "state": move.state,
        "rank": move.rank,
        _TIME_FIELD[move.state]: move.at,
        "updated_at": timezone.now(),
    }
    if move.state in FINAL:
        fields["error_code"] = move.error_code
        fields["error_message"] = move.error_title
    if move.pricing:
        fields["pricing_category"] = move.pricing
    changed = Message.objects.filter(pk=move.message_id, rank__lt=move.rank).update(**fields)
    if changed:  # a status may beat our record of the wamid; keep the one Meta reported
        Message.objects.filter(pk=move.message_id, wamid__isnull=True).update(wamid=move.wamid)
    return bool(changed)


def _guarded(what: str, action: Callable[[], object]) -> object:
    """Run one message's step in a savepoint: one bad row must not undo the batch's others."""
    try:
        with transaction.atomic():
            return action()
    except DatabaseError:
        logger.exception("outbox: %s failed", what)
        return None


def outbox_statuses_apply(rows: Iterable[StatusRow]) -> int:
    """Move outbox messages forward from a batch of Meta's statuses; how many moved."""
    rows = list(rows)
    if not rows:
        return 0
    moved = [m for m in _moves(rows) if _guarded(f"moving {m.message_id}", partial(_apply_move, m))]
    messages = Message.objects.select_related("tech_provider", "waba").in_bulk(
        [m.message_id for m in moved]
    )
    for move in moved:
        callback = partial(message_moved, message=messages[move.message_id], state=move.state)
        _guarded(f"callbacks of {move.message_id}", callback)
    _windows_correct(rows)
    return len(moved)


# ---------------------------------------------------------------- the 24-hour window


def conversation_window_close(*, phone_number_id: str, wa_id: str, at: datetime) -> int:
    """Meta refused a free-form message at `at` (131047): the window was closed then, whatever
    we believed. A customer message after `at` legitimately opened it again, so it stays."""
    return ConversationWindow.objects.filter(
        phone_number_id=phone_number_id, wa_id=wa_id, expires_at__gt=at, last_inbound_at__lt=at
    ).update(expires_at=at, updated_at=timezone.now())


def _windows_correct(rows: list[StatusRow]) -> None:
    for row in rows:
        if row.status == "failed" and row.error_code == REENGAGEMENT and row.recipient_id:
            closed = conversation_window_close(
                phone_number_id=row.phone_number_id,
                wa_id=row.recipient_id,
                at=row.status_at or timezone.now(),
            )
            if closed:
                logger.info("131047: our view of a window of %s was corrected", row.phone_number_id)
