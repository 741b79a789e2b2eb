"""Body caps: 64 KB on the API, 3 MB on Meta ingest, by Content-Length and by bytes actually sent
(chunked bodies), through Django's handler and through a real gunicorn."""

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.client import ClientHandler

from messaging.models import WebhookPayload
from messaging.signing import meta_signature
from onboarding.models import WhatsAppBusinessAccount
from tests.conftest import Account, make_account

ROOT = Path(__file__).resolve().parents[2]
API_CAP = 64 * 1024
INGEST_CAP = 3 * 1024 * 1024


def json_of_size(size: int, **fields: str) -> bytes:
    """A JSON object of exactly `size` bytes holding these fields and a padding field."""
    base = json.dumps({**fields, "pad": ""}).encode()
    return json.dumps({**fields, "pad": "x" * (size - len(base))}).encode()


# ---------------------------------------------------------------- by Content-Length


@pytest.mark.django_db
def test_an_api_body_over_64_kb_gets_413_in_the_api_shape(client: Client, account: Account) -> None:
    body = json_of_size(API_CAP + 1, waba_id="102290129340398")

    response = client.post(
        account.url(), body, content_type="application/json", HTTP_AUTHORIZATION=account.basic
    )

    assert response.status_code == 413
    assert set(response.json()) == {"api_id", "error"}
    assert response.json()["error"] == "Request bodies over 65536 bytes are refused."
    assert not WhatsAppBusinessAccount.objects.exists()


@pytest.mark.django_db
def test_an_api_body_of_exactly_64_kb_is_read(client: Client, account: Account) -> None:
    body = json_of_size(API_CAP, waba_id="102290129340398")

    response = client.post(
        account.url(), body, content_type="application/json", HTTP_AUTHORIZATION=account.basic
    )

    assert response.status_code == 400
    assert response.json()["error"] == "business_id is required."  # waba_id was read


@pytest.mark.django_db
def test_meta_ingest_accepts_3_mb_and_refuses_one_byte_more(client: Client) -> None:
    at_cap = json_of_size(INGEST_CAP, object="whatsapp_business_account")
    over = json_of_size(INGEST_CAP + 1, object="whatsapp_business_account")
    signature = meta_signature(at_cap, settings.META_APP_SECRET[0])

    accepted = client.post(
        "/webhooks/meta/", at_cap, content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )  # fmt: skip
    refused = client.post(
        "/webhooks/meta/", over, content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(over, settings.META_APP_SECRET[0]),
    )  # fmt: skip

    assert accepted.status_code == 200
    assert refused.status_code == 413
    assert WebhookPayload.objects.count() == 1


def test_pages_outside_the_api_keep_djangos_own_limits() -> None:
    from config.middleware import body_cap_for

    assert body_cap_for("/v1/Account/MAX/WhatsApp/EmbeddedSignup/") == API_CAP
    assert body_cap_for("/webhooks/meta/waba/1/") == INGEST_CAP
    assert body_cap_for("/connect/abc/") is None


# ---------------------------------------------------------------- chunked, through Django


def chunked_request(path: str, body: bytes, **headers: str) -> Any:
    """Runs a request the way gunicorn hands a chunked one over: no Content-Length."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **headers,
    }
    return ClientHandler()(environ)


@pytest.mark.django_db
def test_a_chunked_api_body_is_counted_as_it_is_read(account: Account) -> None:
    over = chunked_request(
        account.url(), json_of_size(API_CAP + 1), HTTP_AUTHORIZATION=account.basic
    )
    within = chunked_request(
        account.url(),
        json.dumps({"waba_id": "102290129340398"}).encode(),
        HTTP_AUTHORIZATION=account.basic,
    )

    assert over.status_code == 413
    assert json.loads(over.content)["error"] == "Request bodies over 65536 bytes are refused."
    assert within.status_code == 400
    assert json.loads(within.content)["error"] == "business_id is required."


@pytest.mark.django_db
def test_a_chunked_meta_post_over_3_mb_gets_413() -> None:
    response = chunked_request("/webhooks/meta/", b"{" + b" " * INGEST_CAP + b"}")

    assert response.status_code == 413
    assert not WebhookPayload.objects.exists()


# ---------------------------------------------------------------- a real gunicorn

PORT = 18510


@pytest.fixture
def gunicorn(transactional_db: None) -> Iterator[str]:
    """gunicorn serving config.wsgi on the test database, as the Procfile runs it."""
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{PORT}",
        "--workers", "1", "--threads", "4",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                break
        except OSError:
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


def chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_gunicorn_hands_chunked_bodies_to_the_api_within_the_cap(gunicorn: str) -> None:
    account = make_account()
    url = f"{gunicorn}{account.url()}"
    headers = {"Authorization": account.basic, "Content-Type": "application/json"}

    within = requests.post(
        url, data=chunks(json.dumps({"waba_id": "102290129340398"}).encode()), headers=headers,
        timeout=10,
    )  # fmt: skip
    over = requests.post(url, data=chunks(json_of_size(API_CAP + 1)), headers=headers, timeout=10)

    assert within.request.headers["Transfer-Encoding"] == "chunked"
    assert within.status_code == 400
    assert within.json()["error"] == "business_id is required."
    assert over.status_code == 413
    assert over.json()["error"] == "Request bodies over 65536 bytes are refused."
    assert over.headers["X-Request-Id"]
