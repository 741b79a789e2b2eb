"""The outbox's writes around a send: claiming due messages under a lease, the checks made just
before a message goes to Meta, recording Meta's answer, retries by error class, and the sweep.

Retries live in `next_attempt_at` (the send pump takes what is due; beat runs it every second),
never in broker countdowns. A call that ended without an answer (timeout, dropped connection,
5xx without Meta's envelope, a crashed worker whose lease ran out) may have reached Meta, and
Meta has no idempotency key: before sending such a message again we wait for, and look for, a
status webhook carrying its uuid (biz_opaque_callback_data), and adopt it when there is one.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from messaging.models import Message, MessageStatus, MessageTemplate
from messaging.selectors import conversation_windows_open
from messaging.services.batch_effects import StatusRow, queue_scan_in_index_order
from messaging.services.limiter import throughput_mps_expression
from messaging.services.message_states import (
    RANK,
    REENGAGEMENT,
    State,
    conversation_window_close,
    message_fail,
    message_moved,
    outbox_statuses_apply,
)
from onboarding.graph import GraphError
from onboarding.graph.types import SentMessage
from onboarding.models import WhatsAppBusinessAccount

logger = logging.getLogger(__name__)

PAIR_RATE_CODE = 131056
THROUGHPUT_CODE = 130429
_CLAIM_SCAN = 2  # a claim locks at most this many times its limit of the due queue's head
_TEMPLATE_REFUSALS = {"PAUSED": 132015, "DISABLED": 132016}
EXPIRED = "message_expiry passed before the message could be sent."
WINDOW_CLOSED_AT_SEND = (
    "The 24-hour customer service window closed before the message could be sent; "
    "send an approved template, or name a fallback_template."
)


# ---------------------------------------------------------------- claim


def _head_lock(now: datetime, limit: int, exclude: set[str] | frozenset[str]) -> list[int]:
    """Lock the oldest due rows no other claim holds (SKIP LOCKED), `_CLAIM_SCAN` x `limit`."""
    due = Message.objects.select_for_update(skip_locked=True).filter(
        state=State.QUEUED, next_attempt_at__lte=now
    )
    if exclude:
        due = due.exclude(phone_number_id__in=exclude)
    head = due.order_by("next_attempt_at", "id").values_list("id", flat=True)
    return list(head[: _CLAIM_SCAN * limit])


def _per_number(ids: list[int], limit: int) -> list[int]:
    """Of rows this claim has locked, the oldest `limit`, at most a second's sends per number."""
    ranked = (
        Message.objects.filter(id__in=ids)
        .annotate(
            per_number=Window(
                RowNumber(),
                partition_by=[F("phone_number_id")],
                order_by=[F("next_attempt_at").asc(), F("id").asc()],
            ),
            cap=throughput_mps_expression("sender"),
        )
        .filter(per_number__lte=F("cap"))
    )
    return list(ranked.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])


def messages_claim(
    *, owner: str, limit: int, exclude: set[str] | frozenset[str] = frozenset()
) -> list[Message]:
    """Take up to `limit` due messages (oldest first) but at most a second's worth of each
    number (its throughput), skipping rows another pump holds, so that several pumps share a
    number's queue and one claim takes several numbers instead of one number's next minute.

    PostgreSQL refuses FOR UPDATE beside a window function, so the claim first locks the head of
    the due queue with SKIP LOCKED (a claim running at the same moment locks the rows after it,
    not the same ones, and neither comes back empty-handed), then counts per number among the
    rows it holds. The head's rows it does not take are unlocked at the commit, milliseconds
    later. Looking only at the head keeps a claim's cost flat however long the queue is; a
    number with more due than the head ahead of the others fills it, and the others wait until
    the pump holds a second of that number and excludes it.
    """
    now = timezone.now()
    with transaction.atomic():
        queue_scan_in_index_order()
        head = _head_lock(now, limit, exclude)
        ids = _per_number(head, limit) if head else []
        if not ids:
            return []
        Message.objects.filter(id__in=ids).update(
            state=State.SENDING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.MESSAGE_SEND_LEASE_S),
            updated_at=now,
        )
    claimed = Message.objects.filter(id__in=ids, lease_owner=owner).select_related(
        "waba", "sender", "tech_provider"
    )
    return sorted(claimed, key=lambda m: (m.next_attempt_at or now, m.id))


def message_release(*, message: Message, owner: str, at: datetime, **fields: Any) -> bool:
    """Hand a message back to the queue, due at `at` (throttled, or to be retried)."""
    return bool(
        Message.objects.filter(pk=message.pk, lease_owner=owner, state=State.SENDING).update(
            state=State.QUEUED,
            lease_owner="",
            lease_expires_at=None,
            next_attempt_at=at,
            updated_at=timezone.now(),
            **fields,
        )
    )


# ---------------------------------------------------------------- checks before Meta


def _template_statuses(messages: list[Message]) -> dict[tuple[int, str, str], str]:
    keys = {
        (m.waba_id, m.template_name, m.template_language) for m in messages if m.kind == "template"
    }
    if not keys:
        return {}
    rows = MessageTemplate.objects.filter(
        waba_id__in={k[0] for k in keys}, name__in={k[1] for k in keys}
    ).exclude(status="DELETED")
    found: dict[tuple[int, str, str], str] = {}
    for row in rows.order_by("id"):
        found[(row.waba_id, row.name, row.language)] = row.status
    return found


def _open_windows(messages: list[Message]) -> set[tuple[str, str]]:
    by_number: dict[str, list[str]] = {}
    for m in messages:
        if m.kind != "template":
            by_number.setdefault(m.phone_number_id, []).append(m.dst)
    found: set[tuple[str, str]] = set()
    for number, dsts in by_number.items():
        found |= {
            (number, d) for d in conversation_windows_open(phone_number_id=number, wa_ids=dsts)
        }
    return found


def fallback_switch(*, message: Message, owner: str) -> bool:
    """Use the message's fallback template instead of its free-form content."""
    fallback = message.fallback or {}
    changed = Message.objects.filter(pk=message.pk, lease_owner=owner).update(
        kind="template",
        content=fallback,
        fallback=None,
        fallback_used=True,
        template_name=str(fallback.get("name", "")),
        template_language=str((fallback.get("language") or {}).get("code", "")),
        updated_at=timezone.now(),
    )
    if changed:
        message.kind, message.content, message.fallback = "template", fallback, None
        message.fallback_used = True
        message.template_name = str(fallback.get("name", ""))
        message.template_language = str((fallback.get("language") or {}).get("code", ""))
    return bool(changed)


def _adopt_earlier_send(message: Message) -> bool:
    """A call without an answer: if a status webhook shows it reached Meta, it was sent."""
    status = (
        MessageStatus.objects.filter(biz_opaque_callback_data=str(message.uuid))
        .order_by("-rank")
        .first()
    )
    if status is None:
        return False
    row = StatusRow(
        wamid=status.wamid,
        waba_id=message.waba_id,
        phone_number_id=message.phone_number_id,
        recipient_id=status.recipient_id,
        status=status.status,
        rank=status.rank,
        status_at=status.status_at,
        error_code=status.error_code,
        error_title=status.error_title,
        callback_data=str(message.uuid),
        pricing_category=status.pricing_category,
    )
    Message.objects.filter(pk=message.pk).update(
        lease_owner="", lease_expires_at=None, outcome_unknown=False
    )
    outbox_statuses_apply([row])
    return True


def _template_refusal(message: Message, status: str | None) -> str:
    return (
        f"Template '{message.template_name}' ({message.template_language}) is "
        f"{status or 'unknown'}: only APPROVED templates can be sent."
    )


def _window_ok(message: Message, owner: str, windows: set[tuple[str, str]]) -> bool:
    """Free-form content needs the window open; else the fallback template, else fail."""
    if message.kind == "template" or (message.phone_number_id, message.dst) in windows:
        return True
    if message.fallback and fallback_switch(message=message, owner=owner):
        return True
    message_fail(message=message, code=REENGAGEMENT, reason=WINDOW_CLOSED_AT_SEND, owner=owner)
    return False


def _ready(message: Message, owner: str, windows: set[tuple[str, str]], now: datetime) -> bool:
    if message.expires_at and message.expires_at <= now:
        message_fail(message=message, code=None, reason=EXPIRED, owner=owner)
        return False
    if message.waba.status != WhatsAppBusinessAccount.Status.ACTIVE:
        reason = f"The WhatsApp Business Account is {message.waba.status}; nothing was sent."
        message_fail(message=message, code=None, reason=reason, owner=owner)
        return False
    if message.outcome_unknown and _adopt_earlier_send(message):
        return False
    return _window_ok(message, owner, windows)


def messages_ready(*, messages: list[Message], owner: str) -> list[Message]:
    """Of the claimed messages, those to send now; the rest are failed, switched or adopted."""
    now = timezone.now()
    windows = _open_windows(messages)
    candidates = [m for m in messages if _ready(m, owner, windows, now)]
    templates = _template_statuses(candidates)  # after fallback switches
    ready = []
    for message in candidates:
        if message.kind == "template":
            key = (message.waba_id, message.template_name, message.template_language)
            status = templates.get(key)
            if status != "APPROVED":
                code = _TEMPLATE_REFUSALS.get(status or "", 132001)
                reason = _template_refusal(message, status)
                message_fail(message=message, code=code, reason=reason, owner=owner)
                continue
        ready.append(message)
    return ready


# ---------------------------------------------------------------- Meta's answer


def message_sent(*, message: Message, sent: SentMessage, owner: str) -> None:
    """Meta took it (a wamid): sent, unless a status webhook already took it further."""
    now = timezone.now()
    lease = {"lease_owner": "", "lease_expires_at": None, "outcome_unknown": False}
    mine = Message.objects.filter(pk=message.pk, lease_owner=owner)
    moved = mine.filter(rank__lt=RANK[State.SENT]).update(
        state=State.SENT,
        rank=RANK[State.SENT],
        wamid=sent.message_id,
        sent_at=now,
        attempts=message.attempts,
        error_code=None,
        error_message="",
        updated_at=now,
        **lease,
    )
    if moved:
        message.state, message.rank, message.wamid, message.sent_at = (
            State.SENT,
            2,
            sent.message_id,
            now,
        )
        message.error_code, message.error_message = None, ""
        message_moved(message=message, state=State.SENT)
        return
    mine.update(attempts=message.attempts, updated_at=now, **lease)
    Message.objects.filter(pk=message.pk, wamid__isnull=True).update(wamid=sent.message_id)


def retry_delay_s(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential from MESSAGE_RETRY_BASE_S, half jittered, capped at MESSAGE_RETRY_CAP_S."""
    base = float(settings.MESSAGE_RETRY_BASE_S) * 2 ** max(0, attempts - 1)
    delay = min(float(settings.MESSAGE_RETRY_CAP_S), base)
    return delay / 2 + (rng or random).uniform(0, delay / 2)  # noqa: S311 - not security


@dataclass(frozen=True)
class Outcome:
    """What the pump should do after a refused or failed call."""

    retry_in_s: float | None  # None: the message failed
    penalize: str = ""  # "number" or "pair": slow that limit down
    penalty_s: float = 0.0


def _describe(error: GraphError) -> str:
    detail = f" {error.details}" if error.details else ""
    return f"Meta refused the message: {error.message}{detail}"[:2000]


def message_failed_call(*, message: Message, error: GraphError, owner: str) -> Outcome:
    """Record a failed Graph call and decide: retry (when, and whether to slow down) or fail."""
    now = timezone.now()
    max_attempts = int(settings.MESSAGE_SEND_MAX_ATTEMPTS)
    if error.code == REENGAGEMENT:  # Meta says the window is closed, whatever we believed
        conversation_window_close(
            phone_number_id=message.phone_number_id, wa_id=message.dst, at=now
        )
        if message.fallback and fallback_switch(message=message, owner=owner):
            message_release(message=message, owner=owner, at=now, attempts=message.attempts)
            return Outcome(retry_in_s=0.0)
    if error.code == THROUGHPUT_CODE and message.attempts < 3 * max_attempts:
        return _retry(message, owner, error, 1.0, penalize="number", penalty_s=1.0)
    if error.code == PAIR_RATE_CODE and message.attempts < 3 * max_attempts:
        wait = float(4 ** min(message.attempts, 5))  # Meta: back off 4^X seconds
        return _retry(message, owner, error, wait, penalize="pair", penalty_s=wait)
    if error.retryable and message.attempts < max_attempts:
        wait = retry_delay_s(message.attempts)
        if error.outcome_unknown:
            wait = max(wait, float(settings.MESSAGE_UNKNOWN_OUTCOME_WAIT_S))
        return _retry(message, owner, error, wait)
    message_fail(message=message, code=error.code, reason=_describe(error), owner=owner)
    return Outcome(retry_in_s=None)


def _retry(
    message: Message,
    owner: str,
    error: GraphError,
    wait: float,
    *,
    penalize: str = "",
    penalty_s: float = 0.0,
) -> Outcome:
    message_release(
        message=message,
        owner=owner,
        at=timezone.now() + timedelta(seconds=wait),
        attempts=message.attempts,
        outcome_unknown=error.outcome_unknown,
        error_code=error.code,
        error_message=_describe(error),
    )
    return Outcome(retry_in_s=wait, penalize=penalize, penalty_s=penalty_s)


# ---------------------------------------------------------------- sweep


def messages_sweep() -> dict[str, int]:
    """Requeue messages whose pump vanished (lease over) and fail those past message_expiry."""
    now = timezone.now()
    orphaned = Message.objects.filter(state=State.SENDING, lease_expires_at__lt=now).update(
        state=State.QUEUED,
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=now,
        outcome_unknown=True,  # it may have been mid-call: look for a status first
        updated_at=now,
    )
    expired = 0
    for message in Message.objects.filter(state=State.QUEUED, expires_at__lte=now).select_related(
        "tech_provider", "waba"
    )[:1000]:
        expired += message_fail(message=message, code=None, reason=EXPIRED)
    if orphaned:
        logger.warning("%s messages were held by a pump that is gone; requeued", orphaned)
    return {"orphaned": orphaned, "expired": expired}
