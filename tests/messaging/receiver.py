"""A real HTTP receiver on loopback for delivery tests: records every request, answers as
scripted (status, headers, body, delay), and checks signatures with the `standardwebhooks`
package from PyPI, the way a Tech Provider would.
"""

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

PORT_RANGE = range(18300, 18400)


def free_port() -> int:
    """A free port in this suite's range (18300-18399)."""
    for port in PORT_RANGE:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18399")


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.reply: Callable[[Received], Reply] = lambda request: Reply()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                    time.time(),
                )
                with receiver.lock:
                    receiver.received.append(request)
                reply = receiver.reply(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout test)

            do_POST = _handle  # noqa: N815
            do_GET = _handle  # noqa: N815

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("webhook-id", "") for r in self.received]

    def verify(self, request: Received, secret: str) -> Any:
        """The parsed body when `secret` verifies it (raises WebhookVerificationError if not)."""
        return standardwebhooks.Webhook(secret).verify(request.body, request.headers)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
