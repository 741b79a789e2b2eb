"""Helpers for the message, template, media and quality tests: a sending WABA, windows,
templates, Graph answers faked with `responses`, and the Plivo-shaped bodies."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import responses
from django.conf import settings
from django.utils import timezone

from messaging.models import ConversationWindow, Message, MessageTemplate
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount
from tests.messaging.conftest import PHONE_ID, WABA_ID, make_waba

SRC = "+15550001111"
CUSTOMER = "919800000001"
GRAPH = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}"
SEND_URL = f"{GRAPH}/{PHONE_ID}/messages"
BODY_ONE_PARAM = [{"type": "BODY", "text": "Hi {{1}}, your order shipped."}]


def sending_waba(tech_provider: TechProvider) -> WhatsAppBusinessAccount:
    """An active WABA with a registered number +1 555 000 1111 (PHONE_ID)."""
    return make_waba(tech_provider, WABA_ID, PHONE_ID, "15550001111")


def number() -> PhoneNumber:
    return PhoneNumber.objects.get(phone_number_id=PHONE_ID)


def open_window(wa_id: str = CUSTOMER, *, hours_ago: float = 1.0) -> ConversationWindow:
    at = timezone.now() - timedelta(hours=hours_ago)
    window, _ = ConversationWindow.objects.update_or_create(
        phone_number_id=PHONE_ID,
        wa_id=wa_id,
        defaults={"last_inbound_at": at, "expires_at": at + timedelta(hours=24)},
    )
    return window


def approved_template(
    waba: WhatsAppBusinessAccount,
    name: str = "order_update",
    *,
    status: str = "APPROVED",
    components: list[dict[str, Any]] | None = None,
    template_id: str = "1689556908129835",
    language: str = "en_US",
) -> MessageTemplate:
    return MessageTemplate.objects.create(
        waba=waba,
        template_id=template_id,
        name=name,
        language=language,
        category="UTILITY",
        status=status,
        components=BODY_ONE_PARAM if components is None else components,
    )


def template_ref(name: str = "order_update", *params: str) -> dict[str, Any]:
    """Plivo's template object, as the SDK serialises a Template(**dict)."""
    parameters = [{"type": "text", "text": p} for p in (params or ("Asha",))]
    return {
        "name": name,
        "language": "en_US",
        "components": [{"type": "body", "sub_type": None, "index": None, "parameters": parameters}],
    }


def body(**fields: Any) -> dict[str, Any]:
    """A send body with the fields the SDK always adds."""
    return {
        "type": "whatsapp",
        "src": SRC,
        "dst": f"+{CUSTOMER}",
        "method": "POST",
        "log": "true",
        "trackable": False,
        **fields,
    }


def sent_json(wamid: str = "wamid.TEST1") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
        "messages": [{"id": wamid}],
    }


def graph_error(
    code: int, message: str = "error", status: int = 400, **extra: Any
) -> dict[str, Any]:
    return {
        "json": {"error": {"message": message, "type": "OAuthException", "code": code, **extra}},
        "status": status,
    }


def sent_bodies(mocked: responses.RequestsMock) -> list[dict[str, Any]]:
    return [
        json.loads(call.request.body or b"{}")
        for call in mocked.calls
        if call.request.url == SEND_URL
    ]


def message() -> Message:
    return Message.objects.select_related("tech_provider", "waba").get()


@pytest.fixture
def graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


# ---------------------------------------------------------------- a callback receiver

CALLBACK_PORTS = range(18650, 18690)  # this suite's share of 18600-18699


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    """A loopback HTTP server recording every request (method included); answers `status`."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.hits.append(Hit(self.command, self.path, headers, self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _handle  # noqa: N815

        for port in CALLBACK_PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port in 18650-18689")
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks_receiver(settings: Any) -> Iterator[CallbackReceiver]:
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_ALLOW_HTTP = True
    server = CallbackReceiver()
    yield server
    server.stop()
