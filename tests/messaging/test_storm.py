"""The storm: distinct Meta events, each POSTed 1 to 5 times in shuffled multi-entry batches,
against a live gunicorn with a real Celery worker (and its beat), delivered to two real local
receivers: exactly one event row per distinct event, and each receiver sees each of its own
webhook-ids exactly once (none of the other's), every request verified with `standardwebhooks`.

CI runs WEBHOOK_STORM_EVENTS (default 600); `WEBHOOK_STORM_EVENTS=10000` is the full-size run.
Figures are printed (run with -s) and, with WEBHOOK_STORM_REPORT=path, written as JSON.
"""

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from messaging.meta_events import derive_events
from messaging.models import Delivery, WebhookEvent, WebhookPayload
from messaging.signing import meta_signature
from onboarding.models import TechProvider
from tests.conftest import make_account
from tests.messaging.conftest import make_waba, message_value, status_value
from tests.messaging.receiver import Receiver, free_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("WEBHOOK_STORM_EVENTS", "600"))
APP_SECRET = "storm-app-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    return {
        **os.environ,
        "DATABASE_URL": url,
        "META_APP_SECRET": APP_SECRET,
        "WEBHOOK_ALLOW_LOOPBACK": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_PUMP_BUDGET_S": "10",
    }


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """A warm shutdown of the main process (it stops its own children); SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[str]:
    """gunicorn (2 workers) and a Celery worker with beat, on the test database."""
    port = free_port()
    subprocess.run(
        [str(BIN / "celery"), "-A", "config", "purge", "-f"],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
    )
    web = _start(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        tmp_path / "web.log",
    )
    worker = _start(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-B",
            "-c",
            "2",
            "--loglevel",
            "WARNING",
            "-s",
            str(tmp_path / "beat-schedule"),
        ],
        tmp_path / "worker.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/webhooks/meta/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield base
    finally:
        _stop(web)
        _stop(worker)
        for log in ("web.log", "worker.log"):
            text = (tmp_path / log).read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log}\n{text[-4000:]}")


def _change(i: int, waba: str, number: str) -> dict[str, Any]:
    kind = i % 3
    if kind == 0:
        value = status_value(
            f"wamid.S{i}", random.choice(["sent", "delivered", "read"]), 1000 + i, number
        )
        return {"id": waba, "changes": [{"field": "messages", "value": value}]}
    if kind == 1:
        value = message_value(f"wamid.M{i}", f"91980{i:07d}", int(time.time()) - i, number)
        return {"id": waba, "changes": [{"field": "messages", "value": value}]}
    value = {
        "event": "APPROVED",
        "message_template_id": 9_000_000 + i,
        "message_template_name": f"t_{i}",
        "message_template_language": "en_US",
    }
    return {
        "id": waba,
        "time": 1794816100,
        "changes": [{"field": "message_template_status_update", "value": value}],
    }


def _documents(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    copies = [e for e in entries for _ in range(random.randint(1, 5))]
    random.shuffle(copies)
    documents, start = [], 0
    while start < len(copies):
        size = random.randint(1, 8)
        documents.append(
            {"object": "whatsapp_business_account", "entry": copies[start : start + size]}
        )
        start += size
    return documents


def _post_all(base: str, documents: list[dict[str, Any]], wabas: list[str]) -> list[float]:
    def post(document: dict[str, Any]) -> float:
        body = json.dumps(document).encode()
        path = "/webhooks/meta/"
        if random.random() < 0.3:
            path = f"/webhooks/meta/waba/{random.choice(wabas)}/"
        started = time.monotonic()
        response = session().post(
            base + path,
            data=body,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta_signature(body, APP_SECRET),
            },
        )
        assert response.status_code == 200, response.text
        return time.monotonic() - started

    sessions: dict[int, requests.Session] = {}

    def session() -> requests.Session:
        import threading

        return sessions.setdefault(threading.get_ident(), requests.Session())

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, documents))


def _wait(until: Any, timeout: float) -> float:
    started = time.monotonic()
    while not until():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.25)
    return time.monotonic() - started


def test_a_storm_is_stored_once_and_delivered_once_per_event(stack: str) -> None:
    random.seed(20261122)
    receivers = {"A": Receiver(), "B": Receiver()}
    try:
        tps, wabas = {}, {}
        for name, receiver in receivers.items():
            tp = make_account(f"Storm {name}").tech_provider
            TechProvider.objects.filter(pk=tp.pk).update(webhook_url=receiver.url())
            tps[name] = TechProvider.objects.get(pk=tp.pk)
            for k in (1, 2):
                waba_id, number = f"7{ord(name)}{k}000000000", f"8{ord(name)}{k}000000000"
                make_waba(tp, waba_id=waba_id, phone_number_id=number)
                wabas[waba_id] = (name, number)
        waba_ids = sorted(wabas)
        entries = [_change(i, waba_ids[i % 4], wabas[waba_ids[i % 4]][1]) for i in range(EVENTS)]
        expected: dict[str, set[str]] = {"A": set(), "B": set()}
        for entry in entries:
            [event] = derive_events({"entry": [entry]}).events
            expected[wabas[entry["id"]][0]].add(event.event_id)
        documents = _documents(entries)

        started = time.monotonic()
        latencies = _post_all(stack, documents, waba_ids)
        posting_s = time.monotonic() - started
        stored_s = _wait(
            lambda: WebhookEvent.objects.filter(state="processed").count() >= EVENTS,
            timeout=60 + EVENTS / 20,
        )
        delivered_s = _wait(
            lambda: (
                sum(len(r.received) for r in receivers.values()) >= EVENTS
                and not Delivery.objects.exclude(state="succeeded").exists()
            ),
            timeout=60 + EVENTS / 20,
        )
        time.sleep(2)  # anything delivered twice would arrive now

        assert WebhookEvent.objects.count() == EVENTS
        assert Delivery.objects.filter(state="succeeded").count() == EVENTS
        for name, receiver in receivers.items():
            ids = Counter(receiver.ids())
            assert set(ids) == expected[name]  # all of its own, none of the other's
            assert max(ids.values()) == 1  # each exactly once
            for request in receiver.received:
                receiver.verify(request, tps[name].webhook_secret)
        figures = {
            "events": EVENTS,
            "posts": len(documents),
            "entries_posted": sum(len(d["entry"]) for d in documents),
            "payload_rows": WebhookPayload.objects.count(),
            "post_seconds": round(posting_s, 2),
            "posts_per_s": round(len(documents) / posting_s),
            "post_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "post_p99_ms": round(sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "all_processed_after_posting_s": round(stored_s, 2),
            "all_delivered_after_processing_s": round(delivered_s, 2),
            "receiver_requests": sum(len(r.received) for r in receivers.values()),
        }
        print("\nstorm figures:", json.dumps(figures))
        if os.environ.get("WEBHOOK_STORM_REPORT"):
            Path(os.environ["WEBHOOK_STORM_REPORT"]).write_text(json.dumps(figures, indent=2))
    finally:
        for receiver in receivers.values():
            receiver.stop()
