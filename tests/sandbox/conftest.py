"""Fixtures for sandbox contract tests: a Graph caller, signups, a real HTTP callback server."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from sandbox import clock
from sandbox.selectors import sandbox_calls
from sandbox.services import dispatch
from sandbox.testing import simulate_signup

VERSION = "v26.0"
PORTS = range(18200, 18300)  # this suite's port range


@pytest.fixture(autouse=True)
def _sandbox_defaults(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Webhooks only on flush; the clock back at wall time after each test; live server threads
    close their database connection after each request (a browser's keep-alive connection would
    otherwise hold one past the end of the run)."""
    settings.SANDBOX_WEBHOOK_DISPATCH = "manual"
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    yield
    dispatch.stop()
    clock.reset()


class Graph:
    """Calls the simulator through Django's test client, as a Graph client would."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        self.token = token

    def _auth(self, token: str | None) -> dict[str, str]:
        value = self.token if token is None else token
        return {"Authorization": f"Bearer {value}"} if value else {}

    def url(self, path: str) -> str:
        return f"/sandbox/graph/{VERSION}/{path.lstrip('/')}"

    def get(self, path: str, params: dict[str, Any] | None = None, token: str | None = None) -> Any:
        return self.client.get(self.url(path), params or {}, headers=self._auth(token))

    def post(self, path: str, body: Any = None, token: str | None = None, query: str = "") -> Any:
        url = self.url(path) + (f"?{query}" if query else "")
        if body is None:
            return self.client.post(url, headers=self._auth(token))
        return self.client.post(
            url, json.dumps(body), content_type="application/json", headers=self._auth(token)
        )

    def delete(self, path: str, query: str = "", token: str | None = None) -> Any:
        url = self.url(path) + (f"?{query}" if query else "")
        return self.client.delete(url, headers=self._auth(token))


def exchange(code: str) -> str:
    response = Graph().get(
        "oauth/access_token",
        {
            "client_id": settings.SANDBOX_APP_ID,
            "client_secret": settings.SANDBOX_APP_SECRET,
            "code": code,
        },
    )
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


@dataclass
class Onboarded:
    """A finished signup and its business token."""

    signup: dict[str, Any]
    token: str
    graph: Graph

    @property
    def waba_id(self) -> str:
        return str(self.signup["waba_id"])

    @property
    def phone_id(self) -> str:
        return str(self.signup["phone_number_id"])


@pytest.fixture
def onboarded(db: None) -> Onboarded:
    signup = simulate_signup(business_name="Acme Shoes")
    token = exchange(signup["code"])
    return Onboarded(signup, token, Graph(token))


@pytest.fixture
def system_graph(db: None) -> Graph:
    return Graph(settings.SANDBOX_SYSTEM_USER_TOKEN)


def registered(onboarded: Onboarded, pin: str = "123456") -> Onboarded:
    response = onboarded.graph.post(
        f"{onboarded.phone_id}/register", {"messaging_product": "whatsapp", "pin": pin}
    )
    assert response.status_code == 200, response.content
    return onboarded


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackServer:
    """A real HTTP endpoint standing in for the platform's webhook URLs."""

    url: str
    received: list[Received] = field(default_factory=list)
    verify_token: str = "platform-verify-token"
    handshake: str = "echo"  # "echo", "wrong" or an HTTP status such as "403"
    post_status: int = 200

    def posts(self, path_prefix: str = "") -> list[Received]:
        return [r for r in self.received if r.method == "POST" and r.path.startswith(path_prefix)]

    def post_json(self, path_prefix: str = "") -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.posts(path_prefix)]


def _handler(server_state: CallbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _record(self, body: bytes) -> Received:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            received = Received(self.command, parts.path, query, dict(self.headers), body)
            server_state.received.append(received)
            return received

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            received = self._record(b"")
            mode = server_state.handshake
            token_ok = received.query.get("hub.verify_token") == server_state.verify_token
            if mode == "echo" and token_ok and received.query.get("hub.mode") == "subscribe":
                self._answer(200, received.query.get("hub.challenge", "").encode())
            elif mode == "wrong":
                self._answer(200, b"not-the-challenge")
            else:
                self._answer(int(mode) if mode.isdigit() else 403, b"forbidden")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._record(self.rfile.read(length))
            self._answer(server_state.post_status, b"ok")

    return Handler


def wait_for_call(endpoint: str, timeout: float = 5.0) -> None:
    """Wait until the live server has logged a call (it may still be holding the request)."""
    deadline = time.monotonic() + timeout
    while not sandbox_calls(endpoint=endpoint).exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {endpoint} call was logged")
        time.sleep(0.05)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18200-18299")


@pytest.fixture
def callback(settings: Any) -> Iterator[CallbackServer]:
    """The platform's side: app-level URL <url>/webhooks/meta/, overrides anywhere below."""
    port = free_port()
    state = CallbackServer(url=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SANDBOX_WEBHOOK_BASE_URL = state.url
    yield state
    server.shutdown()
    server.server_close()
