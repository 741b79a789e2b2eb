"""Onboarding under load: N signups submitted at once, 100 ms added to every Graph call.

The platform runs pointed at the sandbox server (its own gunicorn on PORT_SANDBOX) as it would
be at Meta (bench.harness sets the sandbox's app id, secret, system user token and credit line,
and `GRAPH_API_BASE_URL` at the sandbox; the sandbox itself is off in the platform). The
sandbox gets a latency fault on every Graph endpoint (`POST
/sandbox/control/faults/`, kind latency, 100 ms, until cleared) and N finished signups
(`POST /sandbox/control/signups/`); the Tech Providers (one per 50 signups, so one burst stays
inside a Tech Provider's API rate limit) then submit them all at once through
`POST /v1/Account/{auth_id}/WhatsApp/EmbeddedSignup/` with Basic auth, and the run waits until
every onboarding is active or failed.

Figures: total seconds from the first submission to the last activation; whether all are active;
steps that ran more than once (attempts > 1) and the same Graph write answered twice (the
sandbox's call log); Graph calls per onboarding; the platform's own time per onboarding beyond
the injected latency (the steps' wall time minus 100 ms per Graph call, mean); and the CPU the
platform's web and worker processes spent per onboarding.
"""

import json
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from statistics import mean
from typing import Any

import requests
from django.db.models import Count, Max

from bench import conf
from bench.harness import Bench
from bench.procs import Service

LATENCY_MS = 100
PER_TECH_PROVIDER = 50
SANDBOX_URL = f"http://{conf.HOST}:{conf.PORT_SANDBOX}"
PLATFORM_URL = conf.PLATFORM_URL


def _control(path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{SANDBOX_URL}/sandbox/control/{path}", json=body, timeout=30)
    if answer.status_code >= 300:
        raise RuntimeError(f"sandbox control {path}: {answer.status_code} {answer.text[:300]}")
    data: dict[str, Any] = answer.json()
    return data


def _accounts(bench: Bench, count: int) -> list[tuple[str, str]]:
    from messaging.services.endpoints import webhook_url_set
    from onboarding.services.tech_providers import tech_provider_create

    accounts = []
    for i in range(count):
        issued = tech_provider_create(name=f"Bench onboarding ISV {i + 1}")
        tp = webhook_url_set(tech_provider=issued.tech_provider, url=f"{conf.RECEIVER_URL}/hooks/")
        bench.receiver_secrets.append(tp.webhook_secret)
        accounts.append((tp.auth_id, issued.auth_token))
    requests.post(
        f"{conf.RECEIVER_URL}/_reset", json={"secrets": bench.receiver_secrets}, timeout=5
    ).raise_for_status()
    return accounts


def _submit(auth: tuple[str, str], signup: dict[str, Any], n: int) -> tuple[int, float]:
    auth_id, _ = auth
    body = {
        "waba_id": signup["waba_id"],
        "business_id": signup["business_id"],
        "phone_number_id": signup["phone_number_id"],
        "reference": f"bench-{n}",
    }
    started = time.time()
    answer = requests.post(
        f"{PLATFORM_URL}/v1/Account/{auth_id}/WhatsApp/EmbeddedSignup/",
        json=body,
        auth=auth,
        timeout=60,
    )
    return answer.status_code, time.time() - started


def _wait(waba_ids: list[str], cap_s: float) -> dict[str, int]:
    from onboarding.models import Onboarding

    deadline = time.monotonic() + cap_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        rows = Onboarding.objects.filter(waba__waba_id__in=waba_ids)
        counts = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
        if counts.get("active", 0) + counts.get("failed", 0) >= len(waba_ids):
            break
        time.sleep(0.5)
    return counts


def _graph_calls() -> list[dict[str, Any]]:
    """The sandbox's call log (every Graph call it answered since it was cleared)."""
    answer = requests.get(
        f"{SANDBOX_URL}/sandbox/control/calls/", params={"limit": 100_000}, timeout=60
    )
    answer.raise_for_status()
    calls: list[dict[str, Any]] = answer.json()["data"]
    return calls


def _repeats(waba_ids: list[str], calls: list[dict[str, Any]]) -> tuple[int, int]:
    """Steps with more than one attempt, and Graph writes made twice for one object."""
    from onboarding.models import OnboardingStep

    steps = OnboardingStep.objects.filter(
        onboarding__waba__waba_id__in=waba_ids, attempts__gt=1
    ).count()
    # The same write (endpoint, object and parameters) answered 200 twice: a step's effect
    # repeated. (Different writes to one object, like subscribe then override, are by design.)
    writes = Counter(
        (c["endpoint"], c["object_id"], json.dumps(c["params"], sort_keys=True))
        for c in calls
        if c["method"] == "POST" and c["status_code"] == 200
    )
    return steps, sum(1 for n in writes.values() if n > 1)


def _own_ms(waba_ids: list[str], graph_calls: int) -> float | None:
    """Mean over onboardings of the steps' wall time minus the injected latency of its calls."""
    from onboarding.models import OnboardingStep

    per: dict[str, float] = {}
    steps = OnboardingStep.objects.filter(
        onboarding__waba__waba_id__in=waba_ids,
        started_at__isnull=False,
        finished_at__isnull=False,
    ).values_list("onboarding__waba__waba_id", "started_at", "finished_at")
    for waba_id, started, finished in steps:
        if started is None or finished is None:
            continue
        per[waba_id] = per.get(waba_id, 0.0) + (finished - started).total_seconds() * 1000
    if not per:
        return None
    injected = LATENCY_MS * graph_calls / len(waba_ids)
    return round(mean(per.values()) - injected, 1)


def run(bench: Bench) -> None:
    from onboarding.models import Onboarding

    r = bench.results
    n = bench.d.onboardings
    if "celery-beat" not in bench.services:
        bench.release_celery()
    signups = [_control("signups/", {}) for _ in range(n)]
    accounts = _accounts(bench, math.ceil(n / PER_TECH_PROVIDER))
    waba_ids = [s["waba_id"] for s in signups]
    _control(
        "faults/", {"endpoint": "*", "kind": "latency", "latency_ms": LATENCY_MS, "times": None}
    )
    requests.delete(f"{SANDBOX_URL}/sandbox/control/calls/", timeout=30).raise_for_status()
    services: list[Service] = [bench.services["platform"], bench.services["celery-worker"]]
    cpu_before = sum(s.cpu_seconds() for s in services)

    started = time.time()
    with ThreadPoolExecutor(max_workers=min(64, n)) as pool:
        answers = list(
            pool.map(lambda i: _submit(accounts[i // PER_TECH_PROVIDER], signups[i], i), range(n))
        )
    accepted = sum(1 for status, _ in answers if status == 200)
    r["onboarding_submit_s"] = round(time.time() - started, 1)
    counts = _wait(waba_ids, bench.d.onboarding_cap_s)
    last = Onboarding.objects.filter(waba__waba_id__in=waba_ids).aggregate(
        last=Max("completed_at")
    )["last"]
    cpu = sum(s.cpu_seconds() for s in services) - cpu_before
    calls = _graph_calls()
    graph_calls = len(calls)
    steps_repeated, writes_repeated = _repeats(waba_ids, calls)
    active = counts.get("active", 0)
    r.update(
        onboarding_count=n,
        onboarding_accepted=accepted,
        onboarding_active=active,
        onboarding_all_active=active == n,
        onboarding_total_s=round(last.timestamp() - started, 1) if last and active == n else None,
        onboarding_steps_repeated=steps_repeated,
        onboarding_graph_writes_repeated=writes_repeated,
        onboarding_graph_calls=graph_calls,
        onboarding_own_ms_per_signup=_own_ms(waba_ids, graph_calls),
        onboarding_cpu_ms_per_signup=round(1000 * cpu / n, 1),
        onboarding_submit_p50_ms=round(1000 * sorted(t for _, t in answers)[n // 2], 1),
    )
    if accepted != n:
        statuses = sorted({status for status, _ in answers})
        bench.notes.append(f"onboarding: {n - accepted} submissions refused ({statuses})")
    if active != n:
        bench.notes.append(
            f"onboarding: {active} of {n} active within {bench.d.onboarding_cap_s:g} s ({counts})"
        )
    print(
        f"  onboarding: {active}/{n} active, total {r['onboarding_total_s']} s, "
        f"{graph_calls} Graph calls, steps repeated {steps_repeated}",
        flush=True,
    )
