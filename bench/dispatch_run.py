"""Dispatch to the sandbox: several numbers sending at once, each held to its own rate.

The send phase measures the API's accept path with the workers held; this one measures what
comes after it, the send pump and the shared Redis limiter (docs/messaging.md, sections 2 and 4)
delivering the outbox to Meta (the sandbox server) over HTTP with the real workers and beat.

Set-up, through the platform's own paths: `dispatch_numbers` (bench.conf) finished signups made
in the sandbox (`POST /sandbox/control/signups/`), onboarded through
`POST /v1/Account/{auth_id}/WhatsApp/EmbeddedSignup/` until active; each number capped at RATE
messages per second on both sides (staff's cap, `NumberHealth.mps_override`, which the pump
reads, and the sandbox's own `throughput_mps`, which answers 130429 above it); one UTILITY
template per WABA created through the template API and approved by the sandbox's review webhook.
A template needs no open window, so each message goes to its own recipient and Meta's pair rate
never applies: what paces the sends is each number's limit alone. Then every number's messages
are queued at once (`POST .../Message/`, 100 recipients joined by `<` per request, the requests
in parallel) and the run waits until the pump has settled them all.

Measured from the sandbox's call log (`GET /sandbox/control/calls/`, each `messages.send` call's
receive time, as Meta counts arrivals): per number, the busiest 1-second window against RATE and
the sends that arrived when the number already had RATE in the second before (what Meta would
refuse: must be 0); its sustained rate; over the span in which every number was sending, each
number's rate and the share of whole seconds in which all of them sent at least BUSY_SHARE of
RATE; the total per second against numbers x RATE. Each message must have been accepted exactly
once: the uuid the pump puts in `biz_opaque_callback_data` is matched against the platform's
Message rows, and the wamid Meta answered against the one the platform recorded.
"""

from __future__ import annotations

import json
import math
import time
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import TYPE_CHECKING, Any

import requests

from bench import conf

if TYPE_CHECKING:  # the harness needs psutil, which the test suite's venv does not have
    from bench.harness import Bench

# 5 messages a second per number, 4 numbers: measured on this box at 20 per number, the sandbox
# spent about 35 ms of CPU per send and the platform (web, workers, PostgreSQL) 15 to 20, and with
# the simulator on the same 2 cores about 20 sends a second got through in all: the sandbox set the
# pace (its answers took 0.5 to 1.5 s and the pumps' threads all waited on them) and the phase
# measured the simulator. At 4 x 5 (17 a second at the limiter's pace) it measures the pump.
RATE = 5
BUSY_SHARE = 0.8  # a number counts as busy in a second with at least this share of RATE
PER_REQUEST = 100  # recipients per API request (MESSAGE_MAX_RECIPIENTS)
SANDBOX_URL = f"http://{conf.HOST}:{conf.PORT_SANDBOX}"
TEMPLATE = {
    "name": "bench_dispatch",
    "language": "en_US",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Your order has shipped and arrives on Tuesday."}],
}
# Meta's `sent` status comes back at once; delivered and read are left until after the phase:
# they are the sandbox's work more than ours (two more signed POSTs per message on the same 2
# cores), and the ingest phases measure what receiving them costs.
STATUSES = {"delivered_after_ms": 600_000, "read_after_ms": None}
SENT_STATES = ("sent", "delivered", "read")
SETTLED_STATES = (*SENT_STATES, "failed", "undelivered")


# ---------------------------------------------------------------- pure pieces
def window_counts(times: Iterable[float], width: float = 1.0) -> list[int]:
    """For each arrival (sorted), how many arrivals fell in the `width` seconds ending with it,
    itself included: the half-open window (t - width, t]."""
    ordered = sorted(times)
    return [i - bisect_right(ordered, t - width) + 1 for i, t in enumerate(ordered)]


def busiest_window(times: Iterable[float], width: float = 1.0) -> int:
    """The most arrivals seen in any `width`-second window."""
    return max(window_counts(times, width), default=0)


def over_limit(times: Iterable[float], limit: int, width: float = 1.0) -> int:
    """Arrivals that came when `limit` had already arrived in the `width` seconds before them:
    what a receiver counting arrivals per second would refuse."""
    return sum(1 for n in window_counts(times, width) if n > limit)


def sustained_per_s(times: Collection[float]) -> float | None:
    """Arrivals per second from a number's first arrival to its last."""
    if len(times) < 2:
        return None
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else None


def common_span(times_by_number: Mapping[str, Collection[float]]) -> tuple[float, float] | None:
    """From the last number's first arrival to the first number's last: when all were sending."""
    if not times_by_number or not all(times_by_number.values()):
        return None
    start = max(min(t) for t in times_by_number.values())
    end = min(max(t) for t in times_by_number.values())
    return (start, end) if end > start else None


def concurrent_per_s(times_by_number: Mapping[str, Collection[float]]) -> list[float] | None:
    """Each number's arrivals per second within the common span."""
    span = common_span(times_by_number)
    if span is None:
        return None
    start, end = span
    return [
        sum(1 for t in times if start <= t < end) / (end - start)
        for times in times_by_number.values()
    ]


def all_busy_share(
    times_by_number: Mapping[str, Collection[float]], rate: float, share: float = BUSY_SHARE
) -> float | None:
    """Over the whole seconds of the common span, the share in which every number had at least
    share x rate arrivals."""
    span = common_span(times_by_number)
    if span is None or span[1] - span[0] < 1:
        return None
    start, seconds = span[0], math.floor(span[1] - span[0])
    series = [sorted(t) for t in times_by_number.values()]
    busy = sum(
        1
        for k in range(seconds)
        if all(
            bisect_left(s, start + k + 1) - bisect_left(s, start + k) >= share * rate
            for s in series
        )
    )
    return busy / seconds


@dataclass(frozen=True)
class Once:
    """How the messages queued compare with the sends Meta accepted."""

    sent: int  # queued, accepted exactly once, recorded by the platform with that wamid
    lost: int  # queued, never accepted
    doubled: int  # accepted more than once
    mismatched: int  # accepted once, but the platform recorded another wamid or none
    stray: int  # accepted for a uuid that was never queued here


def once_check(recorded: Mapping[str, str | None], accepted: Iterable[tuple[str, str]]) -> Once:
    """`recorded`: each queued message's uuid and the wamid the platform holds for it (None if
    it holds none); `accepted`: (uuid, wamid) of every send Meta answered 200."""
    wamids: dict[str, list[str]] = defaultdict(list)
    for uuid, wamid in accepted:
        wamids[uuid].append(wamid)
    once = {uuid for uuid, got in wamids.items() if len(got) == 1 and uuid in recorded}
    matched = sum(1 for uuid in once if recorded[uuid] == wamids[uuid][0])
    return Once(
        sent=matched,
        lost=sum(1 for uuid in recorded if uuid not in wamids),
        doubled=sum(1 for uuid, got in wamids.items() if len(got) > 1 and uuid in recorded),
        mismatched=len(once) - matched,
        stray=sum(1 for uuid in wamids if uuid not in recorded),
    )


# ---------------------------------------------------------------- set-up
def _control(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = requests.request(
        method, f"{SANDBOX_URL}/sandbox/control/{path}", json=body or {}, timeout=30
    )
    if answer.status_code >= 300:
        raise RuntimeError(f"sandbox control {path}: {answer.status_code} {answer.text[:300]}")
    data: dict[str, Any] = answer.json()
    return data


def _api(bench: Bench, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{conf.PLATFORM_URL}/v1/Account/{bench.auth[0]}/{path}",
        json=body,
        auth=bench.auth,
        timeout=60,
    )


def _wait(what: str, done: Callable[[], bool], cap_s: float) -> None:
    deadline = time.monotonic() + cap_s
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"dispatch: {what} not within {cap_s:g} s")
        time.sleep(0.25)


def outbox_set_aside(when: str) -> int:
    """Fail what is queued in the outbox (the send phase's thousands of messages from a number
    the sandbox does not know), so that no later phase shares the box with their sending."""
    from django.utils import timezone

    from messaging.models import Message

    now = timezone.now()
    return Message.objects.filter(state=Message.State.QUEUED).update(
        state=Message.State.FAILED,
        rank=100,
        error_message=f"bench: set aside {when}",
        failed_at=now,
        updated_at=now,
    )


def _onboard(bench: Bench, count: int) -> list[dict[str, Any]]:
    """`count` finished signups in the sandbox, onboarded through the API until active."""
    from onboarding.models import Onboarding

    signups = [_control("POST", "signups/", {}) for _ in range(count)]
    for n, signup in enumerate(signups):
        body = {k: signup[k] for k in ("waba_id", "business_id", "phone_number_id")}
        answer = _api(bench, "WhatsApp/EmbeddedSignup/", {**body, "reference": f"dispatch-{n}"})
        if answer.status_code != 200:
            raise RuntimeError(f"dispatch: a signup was answered {answer.status_code}")
    wabas = [s["waba_id"] for s in signups]
    _wait(
        f"{count} onboardings active",
        lambda: (
            Onboarding.objects.filter(waba__waba_id__in=wabas, status="active").count() == count
        ),
        60,
    )
    return signups


def _cap(signups: list[dict[str, Any]]) -> None:
    """RATE for each number, at Meta (the sandbox) and in staff's cap the pump reads."""
    from messaging.models import NumberHealth
    from onboarding.models import PhoneNumber

    for signup in signups:
        pid = signup["phone_number_id"]
        _control("POST", f"phone-numbers/{pid}/", {"throughput_mps": RATE})
        NumberHealth.objects.update_or_create(
            number=PhoneNumber.objects.get(phone_number_id=pid), defaults={"mps_override": RATE}
        )


def _approve_templates(bench: Bench, signups: list[dict[str, Any]]) -> None:
    from messaging.models import MessageTemplate

    for signup in signups:
        answer = _api(bench, f"WhatsApp/Template/{signup['waba_id']}/", TEMPLATE)
        if answer.status_code != 201:
            raise RuntimeError(f"dispatch: template creation answered {answer.status_code}")
    _control("POST", "flush/", {"ignore_delays": False})  # the review falls due now
    wabas = [s["waba_id"] for s in signups]
    _wait(
        "the templates' approval",
        lambda: (
            MessageTemplate.objects.filter(
                waba__waba_id__in=wabas, name=TEMPLATE["name"], status="APPROVED"
            ).count()
            == len(wabas)
        ),
        30,
    )


def _recipients(number_index: int, count: int) -> list[str]:
    # 9197 + number + 6 digits: distinct per number, never a magic ending (docs/sandbox.md)
    return [f"+9197{number_index}{n:06d}" for n in range(count)]


def _queue(bench: Bench, signups: list[dict[str, Any]], per_number: int) -> list[str]:
    """Every number's messages queued at once; their uuids."""
    from onboarding.models import PhoneNumber

    requests_ = []
    for i, signup in enumerate(signups):
        number = PhoneNumber.objects.get(phone_number_id=signup["phone_number_id"])
        src = "".join(ch for ch in number.display_phone_number if ch.isdigit())
        dsts = _recipients(i, per_number)
        for start in range(0, per_number, PER_REQUEST):
            body = {
                "type": "whatsapp",
                "src": src,
                "dst": "<".join(dsts[start : start + PER_REQUEST]),
                "template": {"name": TEMPLATE["name"], "language": TEMPLATE["language"]},
            }
            requests_.append(body)
    with ThreadPoolExecutor(max_workers=min(16, len(requests_))) as pool:
        answers = list(pool.map(lambda b: _api(bench, "Message/", b), requests_))
    refused = [a for a in answers if a.status_code != 202]
    if refused:
        raise RuntimeError(
            f"dispatch: {len(refused)} sends refused: {refused[0].status_code} "
            f"{refused[0].text[:200]}"
        )
    return [uuid for a in answers for uuid in a.json()["message_uuid"]]


def _send_calls(phone_number_id: str) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {
        "endpoint": "messages.send",
        "object_id": phone_number_id,
        "limit": 100_000,
    }
    answer = requests.get(f"{SANDBOX_URL}/sandbox/control/calls/", params=params, timeout=60)
    answer.raise_for_status()
    calls: list[dict[str, Any]] = answer.json()["data"]
    return calls


def _arrival(call: dict[str, Any]) -> float:
    return datetime.fromisoformat(call["received_at"]).timestamp()


def _accepted(calls: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (
            str((c["params"] or {}).get("biz_opaque_callback_data", "")),
            str(c["response"]["messages"][0]["id"]),
        )
        for c in calls
        if c["status_code"] == 200
    ]


# ---------------------------------------------------------------- the phase
def _prepare(bench: Bench, count: int) -> list[dict[str, Any]]:
    """A clean sandbox and outbox, then `count` numbers onboarded, capped and with a template."""
    from messaging.models import Message

    if "celery-beat" not in bench.services:
        bench.release_celery()
    _control("DELETE", "faults/")  # the onboarding phase's latency on every Graph call
    _control("POST", "config/", {"template_review_delay_s": 0, **STATUSES})
    set_aside = outbox_set_aside("before the dispatch phase")
    if set_aside:
        bench.notes.append(f"dispatch: {set_aside} messages left queued earlier were set aside")
    _wait(
        "earlier messages in flight to settle",
        lambda: not Message.objects.filter(state=Message.State.SENDING).exists(),
        30,
    )
    signups = _onboard(bench, count)
    _cap(signups)
    _approve_templates(bench, signups)
    return signups


def _keep(calls: dict[str, list[dict[str, Any]]], started: float) -> None:
    """The sends as the sandbox saw them, for a closer look: var/bench/dispatch-calls.json."""
    rows = [
        {
            "number": pid,
            "at_s": round(_arrival(c) - started, 4),
            "status": c["status_code"],
            "error_code": c["error_code"],
            "duration_ms": c["duration_ms"],
            "uuid": (c["params"] or {}).get("biz_opaque_callback_data"),
        }
        for pid, cs in calls.items()
        for c in cs
    ]
    (conf.OUT_DIR / "dispatch-calls.json").write_text(json.dumps(rows))


def _cpu(bench: Bench) -> dict[str, float]:
    return {
        name: bench.services[name].cpu_seconds()
        for name in ("platform", "celery-worker", "sandbox")
        if name in bench.services
    }


def _send_and_wait(bench: Bench, signups: list[dict[str, Any]], ideal_s: float) -> dict[str, Any]:
    """Queue every number's messages at once, wait until the pump settled them; what the
    platform holds of them then, and the CPU each part spent meanwhile."""
    from django.db.models import Max, Sum

    from bench.phases import _pg_cpu, _pg_cpu_since, _profile, _profiled
    from messaging.models import Message

    cpu_before, pg_before = _cpu(bench), _pg_cpu()
    started = time.time()
    uuids = _queue(bench, signups, bench.d.dispatch_per_number)
    queued_s = time.time() - started
    recordings = [
        _profile(bench, name, f"dispatch-{name}", min(ideal_s, 15))
        for name in ("celery-worker", "sandbox")
    ]
    ours = Message.objects.filter(uuid__in=uuids)
    try:
        _wait(
            f"{len(uuids)} messages settled",
            lambda: ours.filter(state__in=SETTLED_STATES).count() == len(uuids),
            2 * ideal_s + 30,
        )
    except RuntimeError as error:
        bench.notes.append(str(error))
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in _cpu(bench).items()}
    # per backend: a sum over the backends alive at each end went negative when one had exited
    cpu["postgresql"] = _pg_cpu_since(pg_before)
    for recording in recordings:
        _profiled(recording)
    last_sent = ours.aggregate(last=Max("sent_at"))["last"]
    return {
        "started": started,
        "queued_s": queued_s,
        "uuids": uuids,
        "recorded": {str(u): w for u, w in ours.values_list("uuid", "wamid")},
        "states": dict(Counter(ours.values_list("state", flat=True))),
        "attempts": ours.aggregate(n=Sum("attempts"))["n"],
        "all_sent_s": round(last_sent.timestamp() - started, 1) if last_sent else None,
        "cpu_ms_per_message": {k: round(1000 * v / len(uuids), 2) for k, v in cpu.items() if uuids},
    }


def run(bench: Bench) -> None:
    from django.conf import settings

    r = bench.results
    count = bench.d.dispatch_numbers
    headroom = float(settings.MESSAGE_THROUGHPUT_HEADROOM)
    ideal_s = bench.d.dispatch_per_number / (RATE * headroom)
    prepared = time.monotonic()
    signups = _prepare(bench, count)
    r["dispatch_setup_s"] = round(time.monotonic() - prepared, 1)
    platform = _send_and_wait(bench, signups, ideal_s)
    # The platform's rows were read first, then Meta's log: a send still in flight is at worst
    # accepted but not yet recorded (a mismatch), never recorded but missing from the log.
    calls = {s["phone_number_id"]: _send_calls(s["phone_number_id"]) for s in signups}
    _keep(calls, platform["started"])
    times = {pid: [_arrival(c) for c in cs] for pid, cs in calls.items()}
    once = once_check(platform["recorded"], [a for cs in calls.values() for a in _accepted(cs)])
    every = sorted(t for ts in times.values() for t in ts)
    span = every[-1] - every[0] if len(every) > 1 else 0.0
    busiest = [busiest_window(ts) for ts in times.values()]
    together = concurrent_per_s(times)
    common = common_span(times)
    durations = [c["duration_ms"] for cs in calls.values() for c in cs]
    r.update(
        dispatch_numbers=count,
        dispatch_rate_per_number=RATE,
        dispatch_queued=len(platform["uuids"]),
        dispatch_queue_s=round(platform["queued_s"], 2),
        dispatch_calls=len(every),
        dispatch_busiest_second_by_number=busiest,
        dispatch_busiest_ratio=round(max(busiest) / RATE, 2) if busiest else None,
        dispatch_over_limit=sum(over_limit(ts, RATE) for ts in times.values()),
        dispatch_sustained_per_s_by_number=[
            _round(sustained_per_s(ts), 2) for ts in times.values()
        ],
        dispatch_concurrent_per_s_by_number=None
        if together is None
        else [round(x, 2) for x in together],
        dispatch_common_span_s=None if common is None else round(common[1] - common[0], 1),
        dispatch_all_busy_share=_round(all_busy_share(times, RATE), 2),
        dispatch_total_per_s=round(once.sent / span, 1) if span > 0 else None,
        dispatch_ideal_per_s=count * RATE,
        dispatch_limiter_per_s=round(count * RATE * headroom, 1),
        dispatch_sent=once.sent,
        dispatch_lost=once.lost,
        dispatch_doubled=once.doubled,
        dispatch_wamid_mismatched=once.mismatched,
        dispatch_stray=once.stray,
        dispatch_states=platform["states"],
        dispatch_refused_130429=sum(
            1 for cs in calls.values() for c in cs if c["error_code"] == 130429
        ),
        dispatch_attempts=platform["attempts"],
        dispatch_all_sent_s=platform["all_sent_s"],
        dispatch_ideal_s=round(ideal_s, 1),
        dispatch_sandbox_p50_ms=median(durations) if durations else None,
        dispatch_cpu_ms_per_message=platform["cpu_ms_per_message"],
    )
    _print(r)


def _print(r: dict[str, Any]) -> None:
    print(
        f"  dispatch: {r['dispatch_numbers']} numbers onboarded, capped at {RATE}/s and given a "
        f"template in {r['dispatch_setup_s']} s; {r['dispatch_queued']} messages; busiest "
        f"second by number {r['dispatch_busiest_second_by_number']}, "
        f"{r['dispatch_over_limit']} over the limit, {r['dispatch_refused_130429']} refused "
        f"(130429); per number {r['dispatch_sustained_per_s_by_number']}/s, while all sent "
        f"{r['dispatch_concurrent_per_s_by_number']}/s (all busy in {r['dispatch_all_busy_share']}"
        f" of the seconds); {r['dispatch_total_per_s']}/s in all; sent once {r['dispatch_sent']}, "
        f"lost {r['dispatch_lost']}, doubled {r['dispatch_doubled']}; all sent after "
        f"{r['dispatch_all_sent_s']} s (the limiter's pace: {r['dispatch_ideal_s']} s); the "
        f"sandbox's p50 {r['dispatch_sandbox_p50_ms']} ms; CPU ms per message "
        f"{r['dispatch_cpu_ms_per_message']}",
        flush=True,
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
