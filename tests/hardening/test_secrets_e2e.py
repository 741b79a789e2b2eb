"""Secrets at rest, in the broker and in the logs after a full end-to-end run (SEC-5, SEC-7,
CW-9, WH-13): a hosted-page signup through the sandbox (code exchanged for a business token),
two API signups, all three onboarded to active by a real worker, inbound messages sent by the
sandbox as signed webhooks, stored, processed and delivered to the Tech Provider's receiver,
and the signing secret rotated through the API.

Then none of the run's secrets (auth token, business token, codes, PINs, app secret, webhook
signing secrets, per-WABA verify tokens, our app secret and system user token) is found in plain
text in: a pg_dump of our tables (the sandbox's tables are Meta's side and left out), any key or
value of the broker's and the cache's Redis databases (sampled all through the run and scanned
at the end), the log files of gunicorn, beat and the worker, or what the receiver got.
"""

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from onboarding.models import Onboarding, PhoneNumber, TechProvider, WhatsAppBusinessAccount
from tests.conftest import make_account
from tests.e2e.stack import Stack, free_port, wait_for
from tests.hardening.conftest import PORTS
from tests.leaks import register_secret

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

STACK_PORTS = PORTS[20:30]


class Receiver:
    """The Tech Provider's callback endpoint: records every request, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(PORTS[30:40])), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]


class BrokerSampler:
    """Reads every key and value of the broker and cache databases, now and then."""

    def __init__(self) -> None:
        self.clients = [
            redis.Redis.from_url(settings.CELERY_BROKER_URL),
            redis.Redis.from_url(settings.REDIS_URL),
        ]
        self.seen: set[bytes] = set()
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def scan(self) -> None:
        for client in self.clients:
            for key in client.scan_iter(count=500):
                self.seen.add(key)
                self.seen.update(_values(client, key))
        self.scans += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scan()
            time.sleep(0.05)

    def __enter__(self) -> "BrokerSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.scan()


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    items: list[Any] = []
    if kind == b"string":
        items = [client.get(key)]
    elif kind == b"list":
        items = client.lrange(key, 0, -1)
    elif kind == b"hash":
        items = [x for pair in client.hgetall(key).items() for x in pair]
    elif kind == b"set":
        items = list(client.smembers(key))
    elif kind == b"zset":
        items = client.zrange(key, 0, -1)
    return [item for item in items if isinstance(item, bytes)]


def pg_dump() -> bytes:
    db = connection.settings_dict
    command = [
        "pg_dump", "--data-only", "--exclude-table=sandbox_*",
        "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
        "-U", db["USER"] or "postgres", db["NAME"],
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout


def hosted_signup(stack: Stack, tech_provider: TechProvider, signup: dict[str, Any]) -> None:
    """What the Connect page does in the browser: open it, then post the dialog's result."""
    browser = requests.Session()
    page = browser.get(f"{stack.url}/connect/{tech_provider.public_id}/", timeout=30)
    assert page.status_code == 200
    found = re.search(
        r'<script id="connect-config" type="application/json">(.*?)</script>', page.text
    )
    assert found is not None
    config = json.loads(found.group(1))
    data = {k: signup[k] for k in ("waba_id", "phone_number_id", "business_id")}
    answer = browser.post(
        f"{stack.url}{config['submitUrl']}",
        json={"nonce": config["nonce"], "code": signup["code"], "event": "FINISH", "data": data},
        headers={"X-CSRFToken": config["csrfToken"]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def test_no_secret_of_a_full_run_is_in_the_dump_the_broker_or_the_logs(
    stack: Stack, transactional_db: None, receiver: Receiver
) -> None:
    stack.control("POST", "reset/")
    account = make_account(
        "Secretive ISV",
        meta_app_id=settings.SANDBOX_APP_ID,
        meta_app_secret=settings.SANDBOX_APP_SECRET,
        meta_config_id=settings.SANDBOX_CONFIG_ID,
    )
    auth = (account.auth_id, account.auth_token)
    api = f"{stack.url}/v1/Account/{account.auth_id}/WhatsApp/"
    first_secret = TechProvider.objects.get(pk=account.tech_provider.pk).webhook_secret
    answer = requests.post(f"{api}Webhook/", json={"url": receiver.url}, auth=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    rotated = requests.post(f"{api}Webhook/Secret/", json={}, auth=auth, timeout=30)
    assert rotated.status_code == 200, rotated.text

    with BrokerSampler() as broker:
        stack.start_worker()
        signups = [stack.signup() for _ in range(3)]
        hosted_signup(stack, account.tech_provider, signups[0])
        for signup in signups[1:]:
            body = {k: signup[k] for k in ("waba_id", "business_id", "phone_number_id")}
            answer = requests.post(f"{api}EmbeddedSignup/", json=body, auth=auth, timeout=30)
            assert answer.status_code == 200, answer.text
        wait_for(
            lambda: Onboarding.objects.filter(status="active").count() == 3,
            timeout=90,
            what="three active onboardings",
        )
        for n, signup in enumerate(signups):
            stack.control(
                "POST", "inbound/", phone_number_id=signup["phone_number_id"],
                **{"from": f"1555000{n:04d}", "text": "hello"},
            )  # fmt: skip
        stack.control("POST", "flush/")
        wait_for(
            lambda: (
                receiver.types().count("message.received") >= 3
                and receiver.types().count("waba.active") >= 3
            ),
            timeout=60,
            what="the deliveries",
        )

    hosted = WhatsAppBusinessAccount.objects.get(waba_id=signups[0]["waba_id"])
    assert hosted.business_token  # the hosted signup exchanged its code
    secrets: dict[str, str] = {
        "auth token": account.auth_token,
        "business token": hosted.business_token,
        "app secret (Tech Provider's)": account.tech_provider.meta_app_secret,
        "webhook signing secret (first)": first_secret,
        "webhook signing secret (rotated)": rotated.json()["secret"],
        "our app secret": settings.META_APP_SECRET[0],
        "system user token": settings.META_SYSTEM_USER_TOKEN,
    }
    for n, signup in enumerate(signups):
        secrets[f"code {n}"] = signup["code"]
    for waba in WhatsAppBusinessAccount.objects.all():
        secrets[f"verify token {waba.waba_id}"] = waba.webhook_verify_token
    for number in PhoneNumber.objects.all():
        assert re.fullmatch(r"[0-9]{6}", number.pin)
        secrets[f"PIN {number.phone_number_id}"] = number.pin
    assert all(secrets.values())
    for kind, value in secrets.items():
        register_secret(value, kind)

    dump = pg_dump()
    assert account.auth_id.encode() in dump  # the dump is real and holds the run's rows
    assert signups[0]["waba_id"].encode() in dump
    blob = b"\n".join(sorted(broker.seen))
    logs = b"".join(path.read_bytes() for path in sorted(stack.logs.iterdir()) if path.is_file())
    sent = b"".join(json.dumps(headers).encode() + body for headers, body in receiver.received)
    places = {"pg_dump": dump, "redis": blob, "process logs": logs, "deliveries": sent}
    found = {
        (kind, place)
        for kind, value in secrets.items()
        for place, content in places.items()
        if value.encode() in _searchable(kind, content)
    }
    print(  # noqa: T201 - figures, read with -s
        f"\nSECRETS: {len(secrets)} secrets x {len(places)} places; pg_dump {len(dump)} bytes, "
        f"redis {len(broker.seen)} distinct keys/values over {broker.scans} scans, "
        f"logs {len(logs)} bytes, {len(receiver.received)} deliveries; leaked: {len(found)}"
    )
    assert not found, sorted(found)


def _searchable(kind: str, content: bytes) -> bytes:
    """A PIN is 6 digits: look for it only as a number of its own, not inside longer ones."""
    if not kind.startswith("PIN"):
        return content
    return b" ".join(re.findall(rb"(?<![0-9])[0-9]{6}(?![0-9])", content))
