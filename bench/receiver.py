"""The local Tech Provider endpoint deliveries go to: a bare ASGI app that checks every
Standard Webhooks signature and counts what it saw.

`POST <any path>` verifies `webhook-signature` (any `v1,` entry) over
`{webhook-id}.{webhook-timestamp}.{body}` with the secrets in RECEIVER_SECRET (`whsec_...`,
comma-separated) and
answers 200 when it matches, 401 when not. `GET /_stats` returns the counts (requests, verified,
refused, distinct webhook-ids, ids seen more than once, first and last receive times);
`POST /_reset` clears them (and may set the accepted secrets: `{"secrets": [...]}`). One
process, so the counts are exact:
`uvicorn bench.receiver:app --workers 1 --loop uvloop --http httptools`.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature_valid(keys: list[bytes], headers: dict[bytes, bytes], body: bytes) -> bool:
    webhook_id = headers.get(b"webhook-id", b"")
    timestamp = headers.get(b"webhook-timestamp", b"")
    given = headers.get(b"webhook-signature", b"").split()
    if not webhook_id or not timestamp or not given:
        return False
    content = webhook_id + b"." + timestamp + b"." + body
    for key in keys:
        expected = b"v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return True
    return False


class Counts:
    def __init__(self, secrets: list[str]) -> None:
        self.keys = [secret_key(s) for s in secrets if s]
        self.requests = 0
        self.verified = 0
        self.refused = 0
        self.ids: set[bytes] = set()
        self.repeats = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def record(self, headers: dict[bytes, bytes], body: bytes) -> bool:
        now = time.time()
        self.requests += 1
        self.first_at = self.first_at or now
        self.last_at = now
        if not signature_valid(self.keys, headers, body):
            self.refused += 1
            return False
        self.verified += 1
        webhook_id = headers[b"webhook-id"]
        if webhook_id in self.ids:
            self.repeats += 1
        else:
            self.ids.add(webhook_id)
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "verified": self.verified,
            "refused": self.refused,
            "distinct_ids": len(self.ids),
            "repeats": self.repeats,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


def _env_secrets() -> list[str]:
    return [s for s in os.environ.get("RECEIVER_SECRET", "").split(",") if s]


counts = Counts(_env_secrets())


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, payload: bytes, kind: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global counts
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    path, method = scope["path"], scope["method"]
    if path == "/_stats" and method == "GET":
        await _answer(send, 200, json.dumps(counts.as_dict()).encode(), b"application/json")
    elif path == "/_reset" and method == "POST":
        secrets = json.loads(body or b"{}").get("secrets") or _env_secrets()
        counts = Counts(list(secrets))
        await _answer(send, 200, b"reset")
    elif method == "POST":
        ok = counts.record(dict(scope["headers"]), body)
        await _answer(send, 200 if ok else 401, b"ok" if ok else b"bad signature")
    else:
        await _answer(send, 405, b"method not allowed")
