"""Plivo-style status callbacks: each move of a message, to the `url` given when it was sent.

As Plivo does: POST sends the fields form-encoded, GET in the query string; the names are
Plivo's (MessageUUID, From, To, Type, Status, ErrorCode, ...). Plivo signs with the account's
auth token, which we keep only as a hash, so callbacks are signed as our webhooks are (Standard
Webhooks headers with the Tech Provider's `whsec_` secret, over the form body, or the query
string for a GET) whenever the Tech Provider has a secret. Every URL goes through the SSRF guard
at send time (messaging.outbound). Attempts follow MESSAGE_CALLBACK_RETRY_SCHEDULE_S (Plivo's
+60, +120, +240 s), then the callback is failed; retries live in `next_attempt_at`.
"""

import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging import signing
from messaging.models import StatusCallback
from messaging.outbound import Sender, SendResult
from messaging.services.batch_effects import queue_scan_in_index_order
from messaging.services.endpoints import signing_secrets

logger = logging.getLogger(__name__)

State = StatusCallback.State
_BATCH = 50
_THREADS = 8
_LEASE_S = 60.0


def _claim(owner: str) -> list[StatusCallback]:
    now = timezone.now()
    with transaction.atomic():
        queue_scan_in_index_order()
        ids = list(
            StatusCallback.objects.select_for_update(skip_locked=True)
            .filter(state=State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:_BATCH]
        )
        lease = now + timedelta(seconds=_LEASE_S)
        # due again when the lease ends, so a crashed sender's callbacks are not lost
        StatusCallback.objects.filter(id__in=ids).update(
            lease_owner=owner, lease_expires_at=lease, next_attempt_at=lease
        )
    return list(
        StatusCallback.objects.filter(id__in=ids, lease_owner=owner).select_related(
            "message__tech_provider"
        )
    )


def request_for(callback: StatusCallback) -> tuple[str, bytes]:
    """The URL and body to send: the fields in the query (GET) or form-encoded (POST)."""
    encoded = urlencode({key: str(value) for key, value in callback.params.items()})
    if callback.method == "GET":
        parts = urlsplit(callback.url)
        query = f"{parts.query}&{encoded}" if parts.query else encoded
        return urlunsplit(parts._replace(query=query)), b""
    return callback.url, encoded.encode()


def _headers(callback: StatusCallback, signed: bytes, now: datetime) -> dict[str, str]:
    keys = signing_secrets(callback.message.tech_provider, now)
    if not keys:
        return {}
    return signing.standard_headers(
        secrets=keys,
        webhook_id=f"msg_{callback.message.uuid.hex}_{callback.sequence}",
        timestamp=int(now.timestamp()),
        body=signed,
    )


def _send(sender: Sender, callback: StatusCallback, now: datetime) -> SendResult:
    url, body = request_for(callback)
    signed = body or urlsplit(url).query.encode()
    return sender.post(
        url,
        body,
        _headers(callback, signed, now),
        method=callback.method,
        content_type="application/x-www-form-urlencoded",
    )


def _record(callback: StatusCallback, result: SendResult, owner: str) -> None:
    now = timezone.now()
    attempts = callback.attempts + 1
    schedule = settings.MESSAGE_CALLBACK_RETRY_SCHEDULE_S
    fields: dict[str, object] = {
        "attempts": attempts,
        "last_status_code": result.status_code,
        "last_error": result.error[:2000],
        "lease_owner": "",
        "lease_expires_at": None,
        "updated_at": now,
    }
    if result.succeeded:
        fields.update(state=State.SUCCEEDED, finished_at=now, next_attempt_at=None)
    elif attempts >= len(schedule) or result.outcome == "blocked":
        fields.update(state=State.FAILED, finished_at=now, next_attempt_at=None)
    else:
        delay = max(float(schedule[attempts]), float(result.retry_after_s or 0))
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    StatusCallback.objects.filter(pk=callback.pk, lease_owner=owner).update(**fields)


def status_callbacks_send(*, budget_s: float = 20.0) -> int:
    """Send due status callbacks until none are due or the budget is spent; attempts made."""
    owner = "cb-" + secrets.token_hex(8)
    deadline = time.monotonic() + budget_s
    done = 0
    sender = Sender()  # keep-alive pools for this run only: a run is short, servers come and go
    with ThreadPoolExecutor(_THREADS, thread_name_prefix="callback") as pool:
        while time.monotonic() < deadline:
            callbacks = _claim(owner)
            if not callbacks:
                break
            now = [timezone.now()] * len(callbacks)
            results = list(pool.map(_send, [sender] * len(callbacks), callbacks, now))
            for callback, result in zip(callbacks, results, strict=True):
                _record(callback, result, owner)
            done += len(callbacks)
    return done
