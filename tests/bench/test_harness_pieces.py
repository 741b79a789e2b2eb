"""The harness's pieces do what the benchmark relies on: bodies the platform understands and
verifies, a receiver that checks Standard Webhooks signatures, a floor that signs correctly,
wrk's Lua script and its parser, the paced plan, the table and the docs writer."""

import asyncio
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import conf, forward_floor, loadgen, payloads, profiling, receiver, report
from messaging.meta_events import derive_events
from messaging.signing import meta_signature_valid, standard_headers

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_bodies_are_distinct_signed_events_the_platform_routes() -> None:
    raw = payloads.body("T", 7)
    assert 1200 < len(raw) < 1700
    assert meta_signature_valid(raw, payloads.meta_signature(raw, "s3cret"), ["s3cret"])
    assert not meta_signature_valid(raw, payloads.meta_signature(raw + b" ", "s3cret"), ["s3cret"])
    events = derive_events(json.loads(raw)).events
    assert [e.event_type for e in events] == ["message.received"]
    assert events[0].named_waba_id == conf.BENCH_WABA_ID
    assert events[0].phone_number_id == conf.BENCH_PHONE_NUMBER_ID
    other = derive_events(json.loads(payloads.body("T", 8))).events
    assert other[0].event_id != events[0].event_id


def test_wrk_files_hold_one_signed_body_per_line(tmp_path: Path) -> None:
    paths = payloads.write_wrk_files(
        tmp_path / "b-", tag="F", threads=2, per_thread=3, app_secret="k"
    )
    lines = [line for p in paths for line in p.read_bytes().splitlines()]
    assert len(lines) == 6
    assert len({line.split(b"\t", 1)[1] for line in lines}) == 6
    for line in lines:
        sig, raw = line.split(b"\t", 1)
        assert meta_signature_valid(raw, sig.decode(), ["k"])


def _call(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def test_receiver_counts_verified_deliveries_and_refuses_bad_signatures() -> None:
    receiver.counts = receiver.Counts([SECRET])
    body = b'{"id":"evt_1"}'
    headers = standard_headers(
        secrets=[SECRET], webhook_id="evt_1", timestamp=1_790_000_000, body=body
    )
    assert _call(receiver.app, "POST", "/hooks/", body, headers) == 200
    assert _call(receiver.app, "POST", "/hooks/", body, headers) == 200
    assert _call(receiver.app, "POST", "/hooks/", body + b" ", headers) == 401
    stats = receiver.counts.as_dict()
    assert (stats["verified"], stats["distinct_ids"], stats["repeats"], stats["refused"]) == (
        2,
        1,
        1,
        1,
    )


def test_floor_envelopes_verify_like_the_platforms_deliveries() -> None:
    webhook_id, body = forward_floor.envelope(3)
    headers = standard_headers(secrets=[SECRET], webhook_id=webhook_id, timestamp=1, body=body)
    key = receiver.secret_key(SECRET)
    raw_headers = {k.encode(): v.encode() for k, v in headers.items()}
    assert receiver.signature_valid([key], raw_headers, body)
    assert json.loads(body)["data"]["messages"][0]["id"] == payloads.wamid("FWD", 3)


def test_paced_plan_repeats_about_a_tenth_and_covers_every_event() -> None:
    plan = loadgen.Plan.make(1000, dup_share=0.1)
    assert set(plan.events) == set(range(1000))
    assert 0.05 < (len(plan.events) - 1000) / len(plan.events) < 0.15


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.headers.get("X-Hub-Signature-256", "").startswith("sha256=")
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="Debian's wrk is not installed")
def test_wrk_script_sends_the_bodies_and_reports_json(tmp_path: Path) -> None:
    server = ThreadingHTTPServer((conf.HOST, 18490), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        payloads.write_wrk_files(
            tmp_path / "b-", tag="X", threads=conf.WRK_THREADS, per_thread=50, app_secret="k"
        )
        result = loadgen.wrk_run(
            f"http://{conf.HOST}:18490/", tmp_path / "b-", 1, log=tmp_path / "wrk.log"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result["requests"] > 0
    assert result["non200"] == 0
    assert result["rps"] > 0
    assert result["p99_ms"] >= result["p50_ms"] > 0


RESULTS = {
    "mode": "full",
    "started_at": "2026-11-22 04:00 UTC",
    "commit": "abc1234",
    "wall_s": 400.0,
    "ingest_rps": 950.0,
    "ingest_floor_rps": 1000.0,
    "pywa_rps": 1800.0,
    "ingest_p99_ms": 40.0,
    "paced_rps": 500.0,
    "events_sent": 7000,
    "events_stored": 7000,
    "events_lost": 0,
    "forward_per_s": 300.0,
    "forward_floor_per_s": 900.0,
    "send_rps": None,
    "onboarding_total_s": 30.0,
    "onboarding_all_active": True,
    "onboarding_steps_repeated": 0,
    "web_worker_rss_peak_mb": 95.0,
    "celery_worker_rss_peak_mb": 120.0,
}


def test_table_gives_each_figure_its_ratio_and_verdict() -> None:
    by_figure = {row.figure.strip(): row for row in report.rows(RESULTS)}
    ingest = by_figure["Webhook ingest, req/s (signed, stored, 32 conn.)"]
    assert (ingest.ratio, ingest.met) == ("0.95", "yes")
    forward = by_figure["Forwarding, signed deliveries/s (2 worker processes)"]
    assert (forward.ratio, forward.met) == ("0.33", "no")
    send = by_figure["Message send API, accepted/s"]
    assert (send.value, send.met) == ("n/a", "n/a")
    assert "| 0.95 |" in report.markdown_table(report.rows(RESULTS))


def test_docs_writer_replaces_only_the_generated_part(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# Benchmarks\n\nHand-written method.\n\n{report.START}\nold\n{report.END}\n"
        "\nHand-written analysis.\n"
    )
    report.write_docs(doc, RESULTS, plot_name=None, environment=lambda r: "Machine: test.")
    text = doc.read_text()
    assert "Hand-written method." in text
    assert "Hand-written analysis." in text
    assert "old" not in text
    assert "| 0.95 |" in text
    assert "Machine: test." in text


def test_profile_summary_ranks_project_functions(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        'process 1:"celery";main (celery/bin/celery.py);run (messaging/services/pump.py);'
        "wait (psycopg/connection.py) 30\n"
        'process 1:"celery";main (celery/bin/celery.py);other (json/encoder.py) 10\n'
    )
    summary = profiling.summarize(raw)
    assert "75.0  run (messaging/services/pump.py)" in summary
    assert "75.0  wait (psycopg/connection.py)" in summary
