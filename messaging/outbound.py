"""The one HTTP path to Tech Provider endpoints: guarded, pinned, never redirected, capped.

`Sender.post` checks the URL with the SSRF guard (resolving it), then connects to the checked
address itself while sending the URL's host name as Host and TLS server name (certificates are
verified against the host name). Redirects are never followed (a 3xx is reported as is), the
response body is read only up to WEBHOOK_RESPONSE_MAX_BYTES, every socket operation and the body
read as a whole are bounded by WEBHOOK_TIMEOUT_S, and no retry happens at this layer: retries
are the delivery schedule's decision. Connection pools are kept per (address, host, port) so
deliveries to one endpoint reuse keep-alive connections; a Sender is safe to share by threads.
"""

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from messaging import ssrf

USER_AGENT = "webhooks/1.0 (Standard Webhooks)"
_EXCERPT_CHARS = 1024


@dataclass(frozen=True)
class SendResult:
    outcome: str  # a DeliveryAttempt.Outcome value
    status_code: int | None = None
    duration_ms: int = 0
    error: str = ""
    excerpt: str = ""
    retry_after_s: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"


def retry_after_seconds(value: str | None, now: float) -> int | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0, int(when.timestamp() - now))


class Sender:
    """Posts signed bodies to callback URLs; one per worker process (see module docstring)."""

    def __init__(self, *, connections_per_host: int | None = None) -> None:
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()
        self._maxsize = connections_per_host or settings.WEBHOOK_ENDPOINT_CONCURRENCY

    def _pool(self, target: ssrf.Target) -> urllib3.HTTPConnectionPool:
        address = target.addresses[0]
        key = (target.scheme, address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                kwargs: dict[str, Any] = {
                    "maxsize": self._maxsize,
                    "block": False,
                    "retries": False,
                }
                if target.scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        address,
                        target.port,
                        server_hostname=target.host,
                        assert_hostname=target.host,
                        cert_reqs="CERT_REQUIRED",
                        **kwargs,
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(address, target.port, **kwargs)
                self._pools[key] = pool
            return pool

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        method: str = "POST",
        content_type: str = "application/json",
    ) -> SendResult:
        """Send `body` (a GET sends none: its data is in the URL) to a checked, pinned URL."""
        started = time.monotonic()
        try:
            target = ssrf.callback_url_check(url)
        except ssrf.UrlRefused as refused:
            return SendResult("blocked", error=refused.message)
        total = float(settings.WEBHOOK_TIMEOUT_S)
        timeout = urllib3.Timeout(
            connect=min(settings.WEBHOOK_CONNECT_TIMEOUT_S, total), read=total
        )
        all_headers = {**headers, "Host": target.host_header, "User-Agent": USER_AGENT}
        if method != "GET":
            all_headers["Content-Type"] = content_type
        try:
            response = self._pool(target).urlopen(
                method,
                target.path,
                body=body if method != "GET" else None,
                headers=all_headers,
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=timeout,
                assert_same_host=False,
            )
            excerpt = self._read_capped(response, started + total)
        except (Urllib3Timeout, TimeoutError):
            return SendResult(
                "timeout", duration_ms=_ms(started), error=f"no answer in {total:g} s"
            )
        except (HTTPError, OSError) as error:
            return SendResult("connection_error", duration_ms=_ms(started), error=_describe(error))
        return _result(response, excerpt, started)

    @staticmethod
    def _read_capped(response: Any, deadline: float) -> bytes:
        cap = int(settings.WEBHOOK_RESPONSE_MAX_BYTES)
        chunks: list[bytes] = []
        size = 0
        while size < cap:
            if time.monotonic() > deadline:
                response.close()
                raise TimeoutError
            chunk = response.read(min(16384, cap - size))
            if not chunk:
                response.release_conn()
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        response.close()  # more than the cap: drop the connection rather than read the rest
        return b"".join(chunks)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)[:500] or type(error).__name__


def _result(response: Any, excerpt: bytes, started: float) -> SendResult:
    status = int(response.status)
    text = excerpt[:_EXCERPT_CHARS].decode("utf-8", "replace")
    if 200 <= status < 300:
        return SendResult("succeeded", status, _ms(started), excerpt=text)
    if 300 <= status < 400:
        location = str(response.headers.get("Location", ""))[:300]
        error = (
            f"HTTP {status} redirect to {location or '(no Location)'}; redirects are not followed"
        )
        return SendResult("redirect", status, _ms(started), error=error, excerpt=text)
    retry_after = None
    if status in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
    return SendResult(
        "http_error",
        status,
        _ms(started),
        error=f"HTTP {status}",
        excerpt=text,
        retry_after_s=retry_after,
    )
