"""The two hottest effects, statuses and 24-hour windows, applied for a whole batch of events
with one upsert each instead of several queries per event.

Same rules as messaging.services.effects (which stays the per-event path and the fallback): a
status only moves forward (`... DO UPDATE ... WHERE rank < EXCLUDED.rank`), a window only moves
later. Rows are reduced per key first (an upsert may touch a row once) and sorted, so two
workers lock rows in the same order and cannot deadlock. The SQL is valid on PostgreSQL and
SQLite alike.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from messaging.meta_events import MESSAGE_RECEIVED, MESSAGE_STATUS, unix_time
from messaging.models import WebhookEvent
from messaging.services.effects import RANK, WINDOW, text
from onboarding.models import WhatsAppBusinessAccount

_STATUS_SQL = (
    "INSERT INTO messaging_messagestatus (wamid, waba_id, phone_number_id, recipient_id, status, "
    "rank, status_at, error_code, error_title, biz_opaque_callback_data, pricing_category, "
    "created_at, updated_at) VALUES {rows} "
    "ON CONFLICT (wamid) DO UPDATE SET status = EXCLUDED.status, rank = EXCLUDED.rank, "
    "status_at = EXCLUDED.status_at, error_code = EXCLUDED.error_code, "
    "error_title = EXCLUDED.error_title, updated_at = EXCLUDED.updated_at, "
    "pricing_category = CASE WHEN EXCLUDED.pricing_category = '' "
    "THEN messaging_messagestatus.pricing_category ELSE EXCLUDED.pricing_category END "
    "WHERE messaging_messagestatus.rank < EXCLUDED.rank"
)
_WINDOW_SQL = (
    "INSERT INTO messaging_conversationwindow (phone_number_id, wa_id, waba_id, last_inbound_at, "
    "expires_at, last_message_id, created_at, updated_at) VALUES {rows} "
    "ON CONFLICT (phone_number_id, wa_id) DO UPDATE SET "
    "last_inbound_at = EXCLUDED.last_inbound_at, expires_at = EXCLUDED.expires_at, "
    "last_message_id = EXCLUDED.last_message_id, waba_id = EXCLUDED.waba_id, "
    "updated_at = EXCLUDED.updated_at "
    "WHERE messaging_conversationwindow.last_inbound_at < EXCLUDED.last_inbound_at"
)


@dataclass(frozen=True)
class StatusRow:
    wamid: str
    waba_id: int
    phone_number_id: str
    recipient_id: str
    status: str
    rank: int
    status_at: datetime | None
    error_code: int | None
    error_title: str
    callback_data: str
    pricing_category: str


@dataclass(frozen=True)
class WindowRow:
    phone_number_id: str
    wa_id: str
    waba_id: int
    at: datetime
    message_id: str


def status_row(waba_id: int, phone_number_id: str, status: dict[str, Any]) -> StatusRow | None:
    wamid, name = text(status.get("id"), 128), text(status.get("status"), 16)
    if not wamid or name not in RANK:
        return None
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    pricing = status["pricing"] if isinstance(status.get("pricing"), dict) else {}
    code = error.get("code")
    return StatusRow(
        wamid=wamid,
        waba_id=waba_id,
        phone_number_id=phone_number_id[:32],
        recipient_id=text(status.get("recipient_id"), 64),
        status=name,
        rank=RANK[name],
        status_at=unix_time(status.get("timestamp")),
        error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        error_title=text(error.get("title"), 500),
        callback_data=text(status.get("biz_opaque_callback_data"), 512),
        pricing_category=text(pricing.get("category"), 32),
    )


def window_row(waba_id: int, phone_number_id: str, message: dict[str, Any]) -> WindowRow | None:
    wa_id = text(message.get("from") or message.get("from_user_id"), 64)
    if not phone_number_id or not wa_id:
        return None
    now = timezone.now()
    at = min(unix_time(message.get("timestamp")) or now, now)
    return WindowRow(phone_number_id[:32], wa_id, waba_id, at, text(message.get("id"), 128))


def _merge_status(old: StatusRow | None, new: StatusRow) -> StatusRow:
    if old is None:
        return new
    winner, other = (new, old) if new.rank > old.rank else (old, new)
    return replace(
        winner,
        pricing_category=winner.pricing_category or other.pricing_category,
        callback_data=winner.callback_data or other.callback_data,
        recipient_id=winner.recipient_id or other.recipient_id,
    )


def db_value(value: Any) -> Any:
    """A parameter for raw SQL: datetimes in the backend's own form (SQLite stores text)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def queue_scan_in_index_order() -> None:
    """Inside a claim's transaction on PostgreSQL: read the due rows through the partial index
    in order, stopping at the LIMIT. Left to itself the planner often picks a bitmap scan that
    fetches and sorts every due row (and every not yet vacuumed one) for each claim, which makes
    a claim cost grow with the backlog; the ordered index scan costs about the LIMIT.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")


def _execute(sql: str, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
    params = [db_value(value) for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(sql.format(rows=placeholders), params)


@dataclass
class BatchEffects:
    """Collects the statuses and inbound messages of a batch, then applies them at once."""

    statuses: dict[str, StatusRow] = field(default_factory=dict)
    windows: dict[tuple[str, str], WindowRow] = field(default_factory=dict)

    def add(self, event: WebhookEvent, value: Any, waba: WhatsAppBusinessAccount) -> bool:
        """Take the event's effects; False when it is not one this class handles."""
        if event.event_type not in (MESSAGE_STATUS, MESSAGE_RECEIVED):
            return False
        if not isinstance(value, dict):
            return True
        for item in value.get("statuses") or []:
            row = (
                status_row(waba.pk, event.phone_number_id, item) if isinstance(item, dict) else None
            )
            if row is not None:
                self.statuses[row.wamid] = _merge_status(self.statuses.get(row.wamid), row)
        for item in value.get("messages") or []:
            window = (
                window_row(waba.pk, event.phone_number_id, item) if isinstance(item, dict) else None
            )
            if window is not None:
                key = (window.phone_number_id, window.wa_id)
                if key not in self.windows or self.windows[key].at < window.at:
                    self.windows[key] = window
        return True

    def apply(self) -> None:
        now = timezone.now()
        _execute(
            _STATUS_SQL,
            [
                (
                    s.wamid,
                    s.waba_id,
                    s.phone_number_id,
                    s.recipient_id,
                    s.status,
                    s.rank,
                    s.status_at,
                    s.error_code,
                    s.error_title,
                    s.callback_data,
                    s.pricing_category,
                    now,
                    now,
                )
                for _, s in sorted(self.statuses.items())
            ],
        )
        _execute(
            _WINDOW_SQL,
            [
                (w.phone_number_id, w.wa_id, w.waba_id, w.at, w.at + WINDOW, w.message_id, now, now)
                for _, w in sorted(self.windows.items())
            ],
        )
