"""The message send API (issue 7) at saturation, against the durable-INSERT reference.

A customer writes first (a signed inbound message through the platform's real ingest, processed
by the workers), which opens the 24-hour window; then wrk posts a free-form text from the bench
number to that customer, `POST /v1/Account/{auth_id}/Message/` with Basic auth, 32 connections,
in rounds alternating with the durable-INSERT reference view (ABBA, as in the ingest phase), so
the ratio compares two figures measured side by side. Like the ingest, this measures the accept
path: the workers are held meanwhile (no send pump, no Graph calls), so accepted/s is what the
API and its one INSERT per request cost. Every answer other than 202 is counted and noted; the
outbox rows are counted against the 202s.

The per-Tech-Provider API limit is raised for the run (bench.conf), or one Tech Provider would
get 50 requests a second.
"""

import base64
import json
import time
from pathlib import Path
from typing import Any

import requests
from django.urls import Resolver404, resolve

from bench import conf, payloads
from bench.dispatch_run import outbox_set_aside
from bench.harness import Bench
from bench.loadgen import POST_LUA, wrk_run

CUSTOMER_N = 9_990_001  # payloads.message_document's customer for this n: 15559990001
CUSTOMER = f"1555{CUSTOMER_N % 10_000_000:07d}"


def _open_window(bench: Bench, cap_s: float = 60) -> bool:
    """The customer's inbound message, signed and posted as Meta would; until its window opens."""
    from messaging.models import ConversationWindow

    now = int(time.time())
    raw = payloads.body("SEND", CUSTOMER_N, timestamp=now - CUSTOMER_N % 86_400)  # sent now
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": payloads.meta_signature(raw, bench.secrets.meta_app_secret),
    }
    requests.post(
        f"{conf.PLATFORM_URL}/webhooks/meta/", data=raw, headers=headers, timeout=10
    ).raise_for_status()
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        window = ConversationWindow.objects.filter(
            phone_number_id=conf.BENCH_PHONE_NUMBER_ID, wa_id=CUSTOMER
        )
        if window.exists():
            return True
        time.sleep(0.25)
    return False


def _measure(bench: Bench, url: str, body_file: Path, n: int) -> dict[str, Any]:
    """Send round `n` (after a warm-up in the first): accepted/s and CPU per request."""
    from bench.phases import _pg_cpu, _pg_cpu_since, _profile, _profiled
    from messaging.models import Message

    bench.sampler.phase = "send"
    auth = base64.b64encode(f"{bench.auth[0]}:{bench.auth[1]}".encode()).decode()
    args = [str(body_file), "202", "Content-Type: application/json", f"Authorization: Basic {auth}"]
    log = conf.LOG_DIR / "wrk.log"
    if n == 1:
        wrk_run(url, body_file, bench.d.warm_s, log=log, script=POST_LUA, script_args=args)
    platform = bench.services["platform"]
    rows_before = Message.objects.count()
    profiled = bench.profile and n == 1
    recording = _profile(bench, "platform", "send", bench.d.measure_s) if profiled else None
    cpu_before, pg_before = platform.cpu_seconds(), _pg_cpu()
    result = wrk_run(url, body_file, bench.d.measure_s, log=log, script=POST_LUA, script_args=args)
    _profiled(recording)
    result["rows"] = Message.objects.count() - rows_before
    requests_n = result["requests"] or 1
    result["cpu_ms_per_req"] = round(1000 * (platform.cpu_seconds() - cpu_before) / requests_n, 3)
    result["pg_cpu_ms_per_req"] = round(1000 * _pg_cpu_since(pg_before) / requests_n, 3)
    result["accepted"] = result["requests"] - result["non200"]
    result["accepted_per_s"] = round(result["accepted"] / result["duration_s"], 1)
    print(
        f"  send API, round {n}: {result['accepted_per_s']} accepted/s, p50 {result['p50_ms']} "
        f"ms, p99 {result['p99_ms']} ms, CPU ms/req: server {result['cpu_ms_per_req']}, "
        f"PostgreSQL {result['pg_cpu_ms_per_req']}; {result['rows']} outbox rows",
        flush=True,
    )
    return result


def _rounds(bench: Bench, url: str, body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The reference view and the send API in ABBA rounds, as in the ingest phase: the send's
    floor is measured beside it, not minutes earlier on a box whose speed may have moved."""
    from bench.phases import reference_round, reference_start

    body_file = conf.OUT_DIR / "send-body.json"
    body_file.write_text(json.dumps(body))
    ref_url = reference_start(bench)
    floors: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    try:
        for n in range(1, bench.d.rounds + 1):
            for which in ("reference", "send") if n % 2 else ("send", "reference"):
                if which == "reference":
                    floors.append(reference_round(bench, ref_url, n, "send"))
                else:
                    ours.append(_measure(bench, url, body_file, n))
    finally:
        bench.stop("reference")
    return floors, ours


def run(bench: Bench) -> None:
    r = bench.results
    auth_id, _ = bench.auth
    path = f"/v1/Account/{auth_id}/Message/"
    r["send_rps"] = None
    try:
        resolve(path)
    except Resolver404:
        bench.notes.append(
            "send: POST /v1/Account/{auth_id}/Message/ does not exist yet (issue 7); "
            "send_rps is null"
        )
        return
    if "celery-beat" not in bench.services:
        bench.release_celery()
    if not _open_window(bench):
        bench.notes.append("send: the customer's window did not open within 60 s; not measured")
        return
    body = {
        "type": "whatsapp",
        "src": conf.BENCH_DISPLAY_NUMBER,
        "dst": CUSTOMER,
        "text": "Your order 4711 has shipped and arrives on Tuesday.",
    }
    url = f"{conf.PLATFORM_URL}{path}"
    probe = requests.post(url, json=body, auth=bench.auth, timeout=10)
    if probe.status_code != 202:
        bench.notes.append(
            f"send: a probe was answered {probe.status_code}: {probe.text[:200]}; not measured"
        )
        return
    bench.hold_celery()
    try:
        floors, ours = _rounds(bench, url, body)
    finally:
        outbox_set_aside("after the send phase")  # measured as accepted; not to be sent
        bench.release_celery()
    _record(bench, floors, ours)


def _record(bench: Bench, floors: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    from bench.phases import _mean

    refused = sum(o["non200"] for o in ours)
    errors = sum(o["errors_connect"] + o["errors_timeout"] for o in ours)
    bench.results.update(
        send_rps=_mean([o["accepted_per_s"] for o in ours]),
        send_rounds=[o["accepted_per_s"] for o in ours],
        send_p50_ms=_mean([o["p50_ms"] for o in ours]),
        send_p99_ms=_mean([o["p99_ms"] for o in ours]),
        send_refused=refused,
        send_cpu_ms_per_req=_mean([o["cpu_ms_per_req"] for o in ours]),
        send_pg_cpu_ms_per_req=_mean([o["pg_cpu_ms_per_req"] for o in ours]),
        send_rows=sum(o["rows"] for o in ours),
        send_accepted=sum(o["accepted"] for o in ours),
        send_floor_rps=_mean([f["rps"] for f in floors]),
        send_floor_rounds=[f["rps"] for f in floors],
        send_floor_cpu_ms_per_req=_mean([f["cpu_ms_per_req"] for f in floors]),
        send_floor_pg_cpu_ms_per_req=_mean([f["pg_cpu_ms_per_req"] for f in floors]),
    )
    if refused or errors:
        bench.notes.append(f"send: {refused} answers were not 202, {errors} errors")
