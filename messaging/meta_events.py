"""Splitting a Meta webhook document into events, with deterministic ids; no database here.

Every entry and every change becomes an event; a `messages` change becomes one event per inbound
message and one per status in it. The dedupe key names the event the way Meta would:
  - an inbound message:           message:<wamid>
  - a status:                     status:<wamid>:<status>
  - a template status update:     template:<template id>:<event>:<entry time>
  - anything else:                change:<sha256 of entry id, entry time, field and the value>
The event id (and the `webhook-id` Tech Providers see) is `evt_` + 32 hex digits of the key's
SHA-256: stable across Meta's retries and our replays, free of the `.` Standard Webhooks forbids.
Anything that does not look like Meta's shape is skipped here and reported in `problems`.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MESSAGE_RECEIVED = "message.received"
MESSAGE_STATUS = "message.status"


@dataclass(frozen=True)
class DerivedEvent:
    event_id: str
    dedupe_key: str
    entry_index: int
    change_index: int
    item_index: int  # -1 for the whole change
    field: str
    event_type: str
    entry_id: str
    named_waba_id: str  # the WABA the body names (waba_info for account_update, else entry.id)
    phone_number_id: str
    occurred_at: datetime | None


@dataclass
class Derivation:
    events: list[DerivedEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def event_id_for(dedupe_key: str) -> str:
    return "evt_" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]


def _text(value: Any, limit: int = 64) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | str):
        return str(value)[:limit]
    return ""


def unix_time(value: Any) -> datetime | None:
    """Meta's timestamps are unix seconds, as numbers or strings; anything else is None."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _routing_waba(field_name: str, entry_id: str, value: dict[str, Any]) -> str:
    waba_info = value.get("waba_info")
    if field_name == "account_update" and isinstance(waba_info, dict):
        waba_id = _text(waba_info.get("waba_id"))
        if waba_id:
            return waba_id
    return entry_id


def _phone_number_id(value: dict[str, Any]) -> str:
    metadata = value.get("metadata")
    return _text(metadata.get("phone_number_id")) if isinstance(metadata, dict) else ""


def _items(value: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = value.get(key)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _message_keys(value: dict[str, Any]) -> list[tuple[int, str, str, Any]]:
    """(item index, event type, dedupe key, timestamp) of each message and status of a change."""
    keys: list[tuple[int, str, str, Any]] = []
    raw_messages = value.get("messages")
    message_count = len(raw_messages) if isinstance(raw_messages, list) else 0
    for i, item in _items(value, "messages"):
        wamid = _text(item.get("id"), 256)
        key = f"message:{wamid}" if wamid else f"message-item:{_canonical(item)}"
        keys.append((i, MESSAGE_RECEIVED, key, item.get("timestamp")))
    for i, item in _items(value, "statuses"):
        wamid, status = _text(item.get("id"), 256), _text(item.get("status"))
        key = f"status:{wamid}:{status}" if wamid and status else f"status-item:{_canonical(item)}"
        # statuses come after messages in item numbering so both fit in one index space
        keys.append((message_count + i, MESSAGE_STATUS, key, item.get("timestamp")))
    return keys


def _change_key(entry_id: str, entry_time: Any, field_name: str, value: Any) -> str:
    if field_name == "message_template_status_update" and isinstance(value, dict):
        template_id, event = _text(value.get("message_template_id")), _text(value.get("event"))
        if template_id and event:
            return f"template:{template_id}:{event}:{_text(entry_time)}"
    digest = hashlib.sha256(_canonical([entry_id, entry_time, field_name, value]).encode())
    return f"change:{digest.hexdigest()}"


def _change_events(
    entry_index: int, change_index: int, entry: dict[str, Any], change: dict[str, Any]
) -> list[DerivedEvent]:
    entry_id, entry_time = _text(entry.get("id")), entry.get("time")
    field_name = _text(change.get("field")) or "unknown"
    raw_value = change.get("value")
    value = raw_value if isinstance(raw_value, dict) else {}

    def make(item: int, event_type: str, key: str, when: Any) -> DerivedEvent:
        return DerivedEvent(
            event_id=event_id_for(key),
            dedupe_key=key,
            entry_index=entry_index,
            change_index=change_index,
            item_index=item,
            field=field_name,
            event_type=event_type,
            entry_id=entry_id,
            named_waba_id=_routing_waba(field_name, entry_id, value),
            phone_number_id=_phone_number_id(value),
            occurred_at=unix_time(when),
        )

    if field_name == "messages":
        items = [make(i, kind, key, when) for i, kind, key, when in _message_keys(value)]
        if items:
            return items
    key = _change_key(entry_id, entry_time, field_name, raw_value)
    return [make(-1, field_name, key, entry_time)]


def derive_events(document: Any) -> Derivation:
    """Every event in a webhook document, in document order, duplicates inside it removed."""
    result = Derivation()
    entries = document.get("entry") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        result.problems.append("no entry list")
        return result
    seen: set[str] = set()
    for entry_index, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            result.problems.append(f"entry {entry_index} has no changes list")
            continue
        for change_index, change in enumerate(changes):
            if not isinstance(change, dict):
                result.problems.append(
                    f"entry {entry_index} change {change_index} is not an object"
                )
                continue
            for event in _change_events(entry_index, change_index, entry, change):
                if event.event_id not in seen:
                    seen.add(event.event_id)
                    result.events.append(event)
    return result


def event_value(document: Any, entry_index: int, change_index: int, item_index: int) -> Any:
    """The part of the document one event stands for: the change value, narrowed to one item."""
    try:
        value = document["entry"][entry_index]["changes"][change_index].get("value")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if item_index < 0 or not isinstance(value, dict):
        return value
    messages, statuses = _list(value, "messages"), _list(value, "statuses")
    narrowed = {k: v for k, v in value.items() if k not in ("messages", "statuses", "contacts")}
    if item_index < len(messages):
        item = messages[item_index]
        narrowed["messages"] = [item]
        contacts = _list(value, "contacts")
        sender = item.get("from") if isinstance(item, dict) else None
        mine = [c for c in contacts if isinstance(c, dict) and c.get("wa_id") == sender]
        if contacts:
            narrowed["contacts"] = mine or contacts
        return narrowed
    index = item_index - len(messages)
    if index < len(statuses):
        narrowed["statuses"] = [statuses[index]]
        return narrowed
    return None


def _list(value: dict[str, Any], key: str) -> list[Any]:
    found = value.get(key)
    return found if isinstance(found, list) else []
