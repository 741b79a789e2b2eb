"""Delivery of queued webhooks, off the request that queued them.

With SANDBOX_WEBHOOK_DISPATCH="thread" (the default) one daemon thread per process delivers due
webhooks in order and runs due template reviews; it is woken when a transaction that queued work
commits, and otherwise sleeps until the next due time. With "manual" nothing is sent until a test
or the control API calls `flush()`, which does the same work synchronously and deterministically.
Several processes may run dispatchers: a row is claimed by a conditional UPDATE before it is sent.

Each thread POSTs through its own `requests.Session`, so a run of webhooks to the platform reuses
one keep-alive connection instead of opening one per webhook; the session keeps no cookies (Meta
sends none). The thread keeps its database connection while woken again within `_LINGER_S`, and
closes it before any longer wait.
"""

import hashlib
import hmac
import http.cookiejar
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Min
from django.utils import timezone

from sandbox import clock
from sandbox.models import SandboxTemplate, SandboxWebhook

logger = logging.getLogger(__name__)

Sender = Callable[[str, bytes, dict[str, str]], int]

_IDLE_WAIT_S = 30.0
_LINGER_S = 2.0  # how long the dispatcher keeps its database connection between wake-ups
_local = threading.local()
_STALE_CHECK_S = 5.0
_stale_checked_at = -_STALE_CHECK_S
_lock = threading.Lock()
_wakeup = threading.Event()
_stopping = threading.Event()
_thread: threading.Thread | None = None


def signature_headers(secret: str, body: bytes) -> dict[str, str]:
    """Meta's signature headers: HMAC of the raw body bytes with the app secret."""
    sha256 = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sha256}", "X-Hub-Signature": f"sha1={sha1}"}


def http_session() -> requests.Session:
    """This thread's HTTP session (pooled keep-alive connections), created on first use."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _local.session = session
    return session


def http_sender(url: str, body: bytes, headers: dict[str, str]) -> int:
    response = http_session().post(
        url,
        data=body,
        headers=headers,
        timeout=settings.SANDBOX_WEBHOOK_TIMEOUT_S,
        allow_redirects=False,
    )
    return response.status_code


def wake() -> None:
    """Tell this process's dispatcher that work is due (starting it on first use)."""
    if start():
        _wakeup.set()


def start() -> bool:
    """Start this process's dispatcher unless it runs (its first pass does whatever is due);
    False when webhooks are not dispatched by a thread. Graph calls start it without waking it:
    what they queue wakes it on commit, so a running dispatcher is left to its wait."""
    if settings.SANDBOX_WEBHOOK_DISPATCH != "thread":
        return False
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="sandbox-webhooks", daemon=True)
            _thread.start()
    return True


def flush(*, ignore_delays: bool = True, sender: Sender | None = None) -> list[SandboxWebhook]:
    """Run due template reviews, then try every pending webhook once, in delivery order.

    `ignore_delays` sends webhooks scheduled for later (delivered/read statuses) right away, in
    their order; it never makes a template review fall due early (advance the clock for that).
    Returns the webhooks attempted, with their outcome.
    """
    _run_due_reviews()
    _release_stale_claims()
    return _deliver_pending(ignore_delays=ignore_delays, sender=sender or http_sender)


def _deliver_pending(*, ignore_delays: bool, sender: Sender) -> list[SandboxWebhook]:
    """Try every pending (or due) webhook once, in delivery order; read in one query."""
    pending = SandboxWebhook.objects.filter(status=SandboxWebhook.Status.PENDING)
    if not ignore_delays:
        pending = pending.filter(deliver_after__lte=clock.now())
    attempted = []
    for hook in list(pending.select_related("app").order_by("deliver_after", "id")):
        if _deliver(hook, sender):
            attempted.append(hook)
    return attempted


def wait_until_idle(*, timeout: float = 10.0) -> bool:
    """Thread mode: block until no webhook is due or being sent (True) or the timeout passes."""
    wake()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = SandboxWebhook.objects.filter(status=SandboxWebhook.Status.SENDING).exists()
        due = SandboxWebhook.objects.filter(
            status=SandboxWebhook.Status.PENDING, deliver_after__lte=clock.now()
        ).exists()
        if not busy and not due:
            return True
        time.sleep(0.05)
    return False


def _release_stale_claims() -> None:
    """A dispatcher that died mid-send left rows SENDING; give them back after a while."""
    stale = timezone.now() - timedelta(seconds=2 * settings.SANDBOX_WEBHOOK_TIMEOUT_S + 5)
    SandboxWebhook.objects.filter(
        status=SandboxWebhook.Status.SENDING, updated_at__lt=stale
    ).update(status=SandboxWebhook.Status.PENDING)


def _deliver(hook: SandboxWebhook, sender: Sender) -> bool:
    """Claim the row as read (still PENDING, no attempt made since), send it, record the outcome;
    False when another dispatcher had it. Only status, attempts and their outcome fields ever
    change on a row, so a row claimed with the attempts it was read with is the row read."""
    claimed = SandboxWebhook.objects.filter(
        pk=hook.pk, status=SandboxWebhook.Status.PENDING, attempts=hook.attempts
    ).update(  # stamped: _release_stale_claims goes by when the claim was made
        status=SandboxWebhook.Status.SENDING, updated_at=timezone.now()
    )
    if not claimed:
        return False  # another dispatcher has it
    hook.status = SandboxWebhook.Status.SENDING
    body = hook.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        **signature_headers(hook.app.secret, body),
    }
    status_code, error = None, ""
    try:
        status_code = sender(hook.url, body, headers)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    _record(hook, status_code, error)
    return True


def _record(hook: SandboxWebhook, status_code: int | None, error: str) -> None:
    hook.attempts += 1
    hook.last_status_code = status_code
    hook.last_error = error or ("" if status_code == 200 else f"HTTP {status_code}")
    if status_code == 200:  # Meta treats any other answer as a failure and retries
        hook.status = SandboxWebhook.Status.DELIVERED
        hook.delivered_at = clock.now()
    else:
        delays = settings.SANDBOX_WEBHOOK_RETRY_DELAYS_S
        if hook.attempts <= len(delays):
            hook.status = SandboxWebhook.Status.PENDING
            hook.deliver_after = clock.now() + timedelta(seconds=delays[hook.attempts - 1])
        else:
            hook.status = SandboxWebhook.Status.FAILED
        logger.info("sandbox webhook #%s to %s failed: %s", hook.pk, hook.url, hook.last_error)
    hook.save(update_fields=_RECORDED)


_RECORDED = [
    "attempts",
    "last_status_code",
    "last_error",
    "status",
    "delivered_at",
    "deliver_after",
    "updated_at",
]


def _run_due_reviews() -> None:
    from sandbox.services.templates import template_reviews_run  # templates queue webhooks

    template_reviews_run()


def _next_due() -> datetime | None:
    hook = SandboxWebhook.objects.filter(status=SandboxWebhook.Status.PENDING).aggregate(
        at=Min("deliver_after")
    )["at"]
    review = SandboxTemplate.objects.filter(status="PENDING").aggregate(at=Min("review_due_at"))[
        "at"
    ]
    candidates = [at for at in (hook, review) if at is not None]
    return min(candidates) if candidates else None


def stop(timeout: float = 5.0) -> None:
    """Stop this process's dispatcher thread, if any (tests switching back to manual)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        _stopping.set()
        _wakeup.set()
        thread.join(timeout)
        _stopping.clear()


def _run() -> None:
    while not _stopping.is_set() and settings.SANDBOX_WEBHOOK_DISPATCH == "thread":
        _wakeup.clear()
        wait = _IDLE_WAIT_S
        try:
            close_old_connections()
            _thread_pass()
            next_due = _next_due()
            if next_due is not None:
                wait = min(wait, max(0.0, (next_due - clock.now()).total_seconds()))
        except Exception:  # the thread must survive a bad row or a lost database
            logger.exception("sandbox webhook dispatcher failed; retrying")
            connection.close()
            wait = 1.0
        _idle(max(wait, 0.01))
    connection.close()


def _thread_pass() -> None:
    """What `flush(ignore_delays=False)` does, with stale claims (a dead dispatcher's, given
    back only after 2 x the timeout + 5 s) looked for every `_STALE_CHECK_S` rather than on
    every pass."""
    global _stale_checked_at
    _run_due_reviews()
    if time.monotonic() - _stale_checked_at >= _STALE_CHECK_S:
        _release_stale_claims()
        _stale_checked_at = time.monotonic()
    _deliver_pending(ignore_delays=False, sender=http_sender)


def _idle(wait: float) -> None:
    """Wait for a wake-up or `wait` seconds; the database connection is kept for a wake-up
    within `_LINGER_S` (sends in a row) and closed before any longer wait."""
    started = time.monotonic()
    if _wakeup.wait(timeout=min(wait, _LINGER_S)):
        return
    remaining = wait - (time.monotonic() - started)
    if remaining > 0:
        connection.close()  # never hold a connection while idle
        _wakeup.wait(timeout=remaining)
