"""The message send API (issue 7) under load, against the durable-INSERT reference.

Until `POST /v1/Account/{auth_id}/Message/` exists this phase only looks for its route in the
platform's URLconf; without it `send_rps` stays null with a note.
"""

import requests
from django.urls import Resolver404, resolve

from bench import conf
from bench.harness import Bench


def run(bench: Bench) -> None:
    auth_id, _ = bench.auth
    path = f"/v1/Account/{auth_id}/Message/"
    bench.results["send_rps"] = None
    try:
        resolve(path)
    except Resolver404:
        bench.notes.append(
            "send: POST /v1/Account/{auth_id}/Message/ does not exist yet (issue 7); "
            "send_rps is null"
        )
        return
    body = {
        "type": "whatsapp",
        "src": conf.BENCH_DISPLAY_NUMBER,
        "dst": "15550000001",
        "text": "bench",
    }
    answer = requests.post(f"{conf.PLATFORM_URL}{path}", json=body, auth=bench.auth, timeout=10)
    bench.notes.append(
        f"send: the Message API answers ({answer.status_code}) but the bench does not drive it "
        "yet; wire bench/send_run.py (window opened through the sandbox's inbound control, "
        "wrk with Basic auth, accepted/s against ingest_floor_rps)"
    )
