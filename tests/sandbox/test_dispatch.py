"""The webhook dispatcher's plumbing: one keep-alive HTTP session per thread, no cookies kept,
and the database connection kept between wake-ups that come in a row."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from sandbox.models import SandboxWebhook
from sandbox.services import dispatch, webhooks
from sandbox.services.bootstrap import sandbox_bootstrap
from sandbox.testing import advance_clock, simulate_signup
from tests.sandbox.conftest import Graph, exchange, free_port


class KeepAliveServer:
    """An HTTP/1.1 endpoint that keeps connections open and tries to plant a cookie."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None]] = []  # (client port, Cookie header)
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                state.seen.append((self.client_address[1], self.headers.get("Cookie")))
                self.send_response(200)
                self.send_header("Set-Cookie", "sessionid=planted; Path=/")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def keep_alive(settings: Any) -> Iterator[KeepAliveServer]:
    server = KeepAliveServer()
    server.thread.start()
    settings.SANDBOX_WEBHOOK_BASE_URL = server.url
    yield server
    dispatch.http_session().close()
    server.server.shutdown()
    server.server.server_close()


def _queue(count: int) -> None:
    app = sandbox_bootstrap()
    for n in range(count):
        webhooks.webhook_enqueue_for_app(
            app=app, field="account_update", waba_id="1", body=f'{{"n":{n}}}', description="t"
        )


@pytest.mark.django_db
def test_webhooks_in_a_row_share_one_connection_and_send_no_cookies(
    keep_alive: KeepAliveServer,
):
    _queue(3)
    attempted = dispatch.flush()
    assert [hook.status for hook in attempted] == ["delivered"] * 3
    ports = {port for port, _cookie in keep_alive.seen}
    assert len(keep_alive.seen) == 3
    assert len(ports) == 1  # one keep-alive connection, not one per webhook
    assert [cookie for _port, cookie in keep_alive.seen] == [None, None, None]


def test_each_thread_has_its_own_session():
    mine = dispatch.http_session()
    assert dispatch.http_session() is mine
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(dispatch.http_session()))
    thread.start()
    thread.join()
    assert len(other) == 1
    assert other[0] is not mine


@pytest.mark.django_db(transaction=True)
def test_the_connection_is_kept_for_a_quick_wake_up_and_closed_before_a_long_wait(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(dispatch, "_LINGER_S", 0.05)
    connection.ensure_connection()
    dispatch._wakeup.set()
    dispatch._idle(30.0)  # woken at once: the next pass reuses the connection
    assert connection.connection is not None
    dispatch._wakeup.clear()
    dispatch._idle(0.02)  # due again within the linger time: kept
    assert connection.connection is not None
    dispatch._idle(0.2)  # nothing came within the linger time: closed while waiting
    assert connection.connection is None


@pytest.mark.django_db
def test_a_row_another_dispatcher_attempted_since_it_was_read_is_left_alone():
    _queue(1)
    read = SandboxWebhook.objects.select_related("app").get()
    SandboxWebhook.objects.filter(pk=read.pk).update(attempts=1)  # tried and rescheduled meanwhile
    sent: list[str] = []

    def sender(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        return 200

    assert dispatch._deliver(read, sender) is False
    assert sent == []
    assert SandboxWebhook.objects.get().status == "pending"
    fresh = SandboxWebhook.objects.select_related("app").get()
    assert dispatch._deliver(fresh, sender) is True
    assert len(sent) == 1
    assert SandboxWebhook.objects.get().attempts == 2


@pytest.mark.django_db
def test_a_claim_on_a_row_queued_long_ago_is_not_released_as_stale_while_it_is_sent():
    _queue(1)
    long_ago = timezone.now() - timedelta(hours=1)  # e.g. a status held back, or a busy sandbox
    SandboxWebhook.objects.update(created_at=long_ago, updated_at=long_ago)
    seen: list[str] = []

    def sender(url: str, body: bytes, headers: dict[str, str]) -> int:
        dispatch._release_stale_claims()  # another dispatcher's sweep, mid-send
        seen.append(SandboxWebhook.objects.get().status)
        return 200

    assert dispatch._deliver(SandboxWebhook.objects.select_related("app").get(), sender)
    assert seen == ["sending"]  # still this dispatcher's, so no other one sends it again
    assert SandboxWebhook.objects.get().status == "delivered"


class _Running:
    """Stands in for a dispatcher thread that is alive."""

    def is_alive(self) -> bool:
        return True

    def join(self, timeout: float | None = None) -> None:
        return


@pytest.mark.django_db
def test_graph_calls_leave_a_running_dispatcher_alone_and_what_falls_due_wakes_it(
    settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
):
    settings.SANDBOX_WEBHOOK_DISPATCH = "thread"
    monkeypatch.setattr(dispatch, "_thread", _Running())
    woken = threading.Event()
    monkeypatch.setattr(dispatch, "_wakeup", woken)
    signup = simulate_signup()
    graph = Graph(exchange(signup["code"]))
    woken.clear()
    assert graph.get(signup["waba_id"]).status_code == 200
    assert not woken.is_set()  # nothing was queued: no pass to run
    template = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Your order shipped."}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        graph.post(f"{signup['waba_id']}/message_templates", template)
    assert woken.is_set()  # its review falls due later: the dispatcher's wait must count it
    woken.clear()
    advance_clock(1)
    assert woken.is_set()
