"""The measurements of a run, one function per phase (see bench.harness for the order).

Imported after django.setup() with the platform's production-like environment, so the harness
reads the platform's database through its own models and creates deliveries through
messaging's own services, exactly as the platform does.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil
import requests
from django.db import connection, transaction
from django.db.models import Max

from bench import conf
from bench.harness import Bench
from bench.loadgen import wrk_run
from bench.profiling import Recording
from bench.refsite.schema import CREATE_TABLE_SQL
from messaging.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookPayload
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount

RECEIVER_URL = conf.RECEIVER_URL
PLATFORM_URL = conf.PLATFORM_URL


# ---------------------------------------------------------------- setup
def fixtures(bench: Bench) -> None:
    """One Tech Provider (callback URL: the receiver), one active WABA and number, the ref table."""
    from messaging.services.endpoints import webhook_url_set
    from onboarding.services.tech_providers import tech_provider_create

    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE_SQL)
    issued = tech_provider_create(name="Bench ISV")
    tp = webhook_url_set(tech_provider=issued.tech_provider, url=f"{RECEIVER_URL}/hooks/")
    waba = WhatsAppBusinessAccount.objects.create(
        tech_provider=tp,
        waba_id=conf.BENCH_WABA_ID,
        business_id="192000000000001",
        status=WhatsAppBusinessAccount.Status.ACTIVE,
    )
    PhoneNumber.objects.create(
        waba=waba,
        phone_number_id=conf.BENCH_PHONE_NUMBER_ID,
        display_phone_number=conf.BENCH_DISPLAY_NUMBER,
        registration=PhoneNumber.Registration.REGISTERED,  # it may send (the send phase)
    )
    bench.results["tech_provider"] = tp.auth_id
    bench.auth = (tp.auth_id, issued.auth_token)
    bench.tech_provider_id = tp.pk
    bench.receiver_secrets = [tp.webhook_secret]


def _receiver_reset(bench: Bench) -> None:
    requests.post(
        f"{RECEIVER_URL}/_reset", json={"secrets": bench.receiver_secrets}, timeout=5
    ).raise_for_status()


def _receiver_stats() -> dict[str, Any]:
    stats: dict[str, Any] = requests.get(f"{RECEIVER_URL}/_stats", timeout=5).json()
    return stats


def start_servers(bench: Bench) -> None:
    """The receiver, the platform's web server and the sandbox server, started together."""
    started = [
        bench.uvicorn(
            "receiver", "bench.receiver:app", conf.PORT_RECEIVER, 1, bench.env, wait=False
        ),
        bench.gunicorn("platform", "config.wsgi", conf.PORT_PLATFORM, bench.env, wait=False),
        bench.gunicorn(
            "sandbox", "config.wsgi", conf.PORT_SANDBOX, bench.sandbox_env, role="other", wait=False
        ),
    ]
    bench.celery(bench.env, hold=True)  # booted now, consuming nothing until the backlog phase
    for service in started:
        service.wait_ready()
    _receiver_reset(bench)


def _workers(bench: Bench) -> None:
    if "celery-beat" not in bench.services:
        bench.release_celery()


# ---------------------------------------------------------------- ingest
def _profile(bench: Bench, service_name: str, name: str, seconds: float) -> Recording | None:
    if not bench.profile or service_name not in bench.services:
        return None
    return Recording(bench.services[service_name], name, seconds)


def _profiled(recording: Recording | None) -> None:
    if recording is not None and (summary := recording.finish()) is not None:
        print(f"  profile: {summary.relative_to(conf.ROOT)}", flush=True)


def _wrk(
    bench: Bench,
    url: str,
    name: str,
    *,
    bodies: str,
    service: str,
    warm: bool = False,
    profile: bool = False,
) -> dict[str, Any]:
    """One wrk measurement (after a warm-up when `warm`), with the server's CPU per request."""
    log = conf.LOG_DIR / "wrk.log"
    if warm:
        wrk_run(url, conf.OUT_DIR / "bodies-W-", bench.d.warm_s, log=log)
    recording = (
        _profile(bench, service, f"ingest-{service}", bench.d.measure_s) if profile else None
    )
    cpu_before, pg_before = bench.services[service].cpu_seconds(), _pg_cpu()
    result = wrk_run(url, conf.OUT_DIR / f"bodies-{bodies}-", bench.d.measure_s, log=log)
    cpu = bench.services[service].cpu_seconds() - cpu_before
    pg = _pg_cpu_since(pg_before)
    _profiled(recording)
    n = result["requests"] or 1
    result["cpu_ms_per_req"] = round(1000 * cpu / n, 3)
    result["pg_cpu_ms_per_req"] = round(1000 * pg / n, 3)
    bad = result["non200"] + result["errors_connect"] + result["errors_timeout"]
    if bad:
        bench.notes.append(f"{name}: {bad} requests failed or were not 200 under wrk")
    if result["wraps"]:
        bench.notes.append(f"{name}: wrk ran out of distinct bodies ({result['wraps']} wraps)")
    print(
        f"  {name}: {result['rps']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"CPU ms/req: server {result['cpu_ms_per_req']}, PostgreSQL {result['pg_cpu_ms_per_req']}",
        flush=True,
    )
    return result


def _pg_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [conf.DB_NAME])
        pids = [row[0] for row in cursor.fetchall()]
    found = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        found[pid] = times.user + times.system
    return found


def _pg_cpu_since(before: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in _pg_cpu().items())


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3)


def _smoke(url: str, secret: str, expect_refusal: bool = True) -> None:
    """A good signature is 200; one byte off is refused."""
    from bench import payloads

    raw = payloads.body("S", 0)
    good = payloads.meta_signature(raw, secret)
    headers = {"Content-Type": "application/json"}
    answer = requests.post(
        url, data=raw, headers={**headers, "X-Hub-Signature-256": good}, timeout=10
    )
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered {answer.status_code} to a good signature")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    answer = requests.post(
        url, data=raw, headers={**headers, "X-Hub-Signature-256": bad}, timeout=10
    )
    if expect_refusal and answer.status_code not in (401, 403):
        raise RuntimeError(f"{url} answered {answer.status_code} to a bad signature")


@dataclass
class _IngestRound:
    """One wrk measurement of the ingest phase, run when called."""

    bench: Bench
    n: int
    service: str
    url: str
    label: str
    result: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> None:
        if self.service == "reference":
            self.result = reference_round(self.bench, self.url, self.n, "ingest")
            return
        self.bench.sampler.phase = "ingest"
        self.result = _wrk(
            self.bench,
            self.url,
            f"{self.label}, round {self.n}",
            bodies=f"M{self.n}",
            service=self.service,
            warm=self.n == 1,
            profile=self.bench.profile and self.n == 1,
        )


def reference_start(bench: Bench) -> str:
    """The reference view's server (the durable-INSERT floor), smoke-tested; its URL. The phase
    that starts it stops it (`bench.stop("reference")`)."""
    url = f"http://{conf.HOST}:{conf.PORT_REFERENCE}/webhooks/meta/"
    env = {**conf.base_env(), **conf.reference_env(bench.secrets)}
    bench.gunicorn("reference", "bench.refsite.wsgi", conf.PORT_REFERENCE, env, role="other")
    _smoke(url, bench.secrets.meta_app_secret)
    return url


def reference_round(bench: Bench, url: str, n: int, phase: str) -> dict[str, Any]:
    """Round `n` of the reference view, measured as its own rounds in `phase` are."""
    bench.sampler.phase = f"{phase}-reference"
    return _wrk(
        bench, url, f"reference view, round {n}", bodies=f"M{n}", service="reference", warm=n == 1
    )


def phase_ingest(bench: Bench) -> None:
    """The reference view and the platform in alternating rounds, then pywa.

    Alternating in ABBA order (reference, platform, platform, reference, ...) spreads whatever
    else the box is doing over both, so their ratio is steadier than either figure. The
    platform's workers are held (booted, consuming nothing): this is the request path alone;
    the backlog phase then works off what it stored.
    """
    r = bench.results
    secret = bench.secrets.meta_app_secret
    path = "/webhooks/meta/"
    ref_url = reference_start(bench)
    _smoke(f"{PLATFORM_URL}{path}", secret)
    floors, ours = [], []
    for n in range(1, bench.d.rounds + 1):
        reference = _IngestRound(bench, n, "reference", ref_url, "reference view")
        platform = _IngestRound(bench, n, "platform", f"{PLATFORM_URL}{path}", "platform ingest")
        # ABBA: the reference first in odd rounds, the platform first in even ones, so a drift
        # over the phase (checkpoints, vacuum, other work on the box) weighs on both alike.
        for measure in (reference, platform) if n % 2 else (platform, reference):
            measure()
        floors.append(reference.result)
        ours.append(platform.result)
    bench.stop("reference")
    r.update(
        ingest_floor_rps=_mean([f["rps"] for f in floors]),
        ingest_floor_rounds=[f["rps"] for f in floors],
        ingest_floor_p50_ms=_mean([f["p50_ms"] for f in floors]),
        ingest_floor_p99_ms=_mean([f["p99_ms"] for f in floors]),
        ingest_floor_cpu_ms_per_req=_mean([f["cpu_ms_per_req"] for f in floors]),
        ingest_floor_pg_cpu_ms_per_req=_mean([f["pg_cpu_ms_per_req"] for f in floors]),
        ingest_rps=_mean([o["rps"] for o in ours]),
        ingest_rounds=[o["rps"] for o in ours],
        ingest_sat_p50_ms=_mean([o["p50_ms"] for o in ours]),
        ingest_sat_p99_ms=_mean([o["p99_ms"] for o in ours]),
        ingest_cpu_ms_per_req=_mean([o["cpu_ms_per_req"] for o in ours]),
        ingest_pg_cpu_ms_per_req=_mean([o["pg_cpu_ms_per_req"] for o in ours]),
    )

    ref_cost = r["ingest_floor_cpu_ms_per_req"] + r["ingest_floor_pg_cpu_ms_per_req"]
    our_cost = r["ingest_cpu_ms_per_req"] + r["ingest_pg_cpu_ms_per_req"]
    r["ingest_cpu_cost_ratio"] = round(ref_cost / our_cost, 2) if our_cost else None

    bench.sampler.phase = "ingest-pywa"
    bench.uvicorn(
        "pywa",
        "bench.pywa_app:app",
        conf.PORT_PYWA,
        2,
        {**conf.base_env(), "META_APP_SECRET": secret},
    )
    _smoke(f"http://{conf.HOST}:{conf.PORT_PYWA}{path}", secret)
    peer = _wrk(
        bench,
        f"http://{conf.HOST}:{conf.PORT_PYWA}{path}",
        "pywa",
        bodies="M1",
        service="pywa",
        warm=True,
    )
    bench.stop("pywa")
    bench.sampler.phase = "ingest-paced"
    alone = _paced(bench, "A", _paced_rate(bench))
    r.update(ingest_p99_alone_ms=alone["p99_ms"], ingest_p50_alone_ms=alone["p50_ms"])
    print(
        f"  platform ingest alone at {alone['target_rps']}/s: p50 {alone['p50_ms']} ms, "
        f"p99 {alone['p99_ms']} ms",
        flush=True,
    )
    r.update(
        pywa_rps=peer["rps"],
        pywa_p50_ms=peer["p50_ms"],
        pywa_p99_ms=peer["p99_ms"],
        pywa_cpu_ms_per_req=peer["cpu_ms_per_req"],
    )


# ---------------------------------------------------------------- backlog
def _unexpanded() -> int:
    """Payloads stored whose events the workers have not derived yet (one event per bench body)."""
    return WebhookPayload.objects.filter(expanded_at__isnull=True).count()


def _drained(tp_id: int) -> tuple[int, int]:
    pending = WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count()
    pending_events = pending + _unexpanded()
    pending_deliveries = Delivery.objects.filter(
        tech_provider_id=tp_id, state=Delivery.State.PENDING
    ).count()
    return pending_events, pending_deliveries


def _wait_drained(bench: Bench, cap_s: float) -> bool:
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        if _drained(bench.tech_provider_id) == (0, 0):
            return True
        time.sleep(0.25)
    events, deliveries = _drained(bench.tech_provider_id)
    bench.notes.append(
        f"not drained within {cap_s:g} s: {events} events and {deliveries} deliveries still pending"
    )
    return False


_UPDATE_CHUNK = 10_000


def _set_aside(rows: Any, **fields: Any) -> int:
    """Update the rows no worker holds right now, in id order (the workers are still running:
    an unordered bulk UPDATE deadlocked with the delivery pump). A held row is finished by its
    worker, and the next phase waits for it to drain."""
    with transaction.atomic():
        free = rows.select_for_update(skip_locked=True).order_by("id").values_list("id", flat=True)
        ids = list(free)  # locked until the commit
        # in chunks: PostgreSQL takes at most 65,535 parameters in a statement
        chunks = (ids[i : i + _UPDATE_CHUNK] for i in range(0, len(ids), _UPDATE_CHUNK))
        return sum(rows.model.objects.filter(id__in=chunk).update(**fields) for chunk in chunks)


def _discard_backlog(bench: Bench) -> int:
    """Set aside what the backlog phase had no time for, so later phases start empty."""
    from django.utils import timezone

    now = timezone.now()
    note = "bench: discarded after the backlog window"
    payloads = _set_aside(
        WebhookPayload.objects.filter(expanded_at__isnull=True), expanded_at=now, parse_error=note
    )
    events = _set_aside(
        WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING),
        state=WebhookEvent.State.IGNORED,
        note=note,
        updated_at=now,
    )
    deliveries = _set_aside(
        Delivery.objects.filter(state=Delivery.State.PENDING),
        state=Delivery.State.FAILED,
        last_error=note,
        finished_at=now,
        updated_at=now,
    )
    return payloads + events + deliveries


def phase_backlog(bench: Bench) -> None:
    """Workers start on what ingest stored: events processed (routed, applied, a delivery
    created) per second, and how many were delivered, within the window."""
    r = bench.results
    _receiver_reset(bench)
    window = bench.d.backlog_window_s
    pending = WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count()
    r["backlog_events"] = pending + _unexpanded()  # ingest stores payloads; one event per body
    from django.utils import timezone

    released = timezone.now()
    _workers(bench)
    recording = _profile(bench, "celery-worker", "backlog", min(window, 20))
    deadline = time.monotonic() + window
    while time.monotonic() < deadline and _drained(bench.tech_provider_id) != (0, 0):
        time.sleep(0.25)
    _profiled(recording)
    processed = WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED)
    last = processed.aggregate(last=Max("processed_at"))["last"]
    count = processed.count()
    if last and count:  # from the workers' release to the last event processed
        seconds = (last - released).total_seconds()
        r["backlog_processed_per_s"] = round(count / seconds, 1) if seconds > 0 else None
    r["backlog_processed"] = count
    r["backlog_delivered"] = Delivery.objects.filter(
        state=Delivery.State.SUCCEEDED, event__isnull=False
    ).count()
    r["backlog_discarded"] = _discard_backlog(bench)
    print(
        f"  backlog: {count} of {r.get('backlog_events')} events processed at "
        f"{r.get('backlog_processed_per_s')}/s, {r['backlog_delivered']} delivered, in the "
        f"{window:g} s window",
        flush=True,
    )


# ---------------------------------------------------------------- paced
def _paced_rate(bench: Bench) -> float:
    return round(0.5 * (bench.results.get("ingest_floor_rps") or 600), 1)


def _paced(bench: Bench, tag: str, rate: float) -> dict[str, Any]:
    """The paced generator against the platform's ingest (see bench.loadgen)."""
    done = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "paced",
            f"{PLATFORM_URL}/webhooks/meta/",
            "--tag",
            tag,
            "--rate",
            str(rate),
            "--duration",
            str(bench.d.paced_s),
        ],
        env={**conf.base_env(), "META_APP_SECRET": bench.secrets.meta_app_secret},
        cwd=conf.ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=bench.d.paced_s + 120,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def phase_paced(bench: Bench) -> None:
    """Half the floor's rate with the workers processing and delivering as it arrives."""
    r = bench.results
    _workers(bench)
    _wait_drained(bench, bench.d.drain_cap_s)
    _receiver_reset(bench)
    rate = _paced_rate(bench)
    tag = "P"
    paced = _paced(bench, tag, rate)
    _wait_drained(bench, bench.d.drain_cap_s)
    prefix = f"message:wamid.BENCH{tag}."
    stored = {
        int(key.rsplit(".", 1)[1])
        for key in WebhookEvent.objects.filter(dedupe_key__startswith=prefix).values_list(
            "dedupe_key", flat=True
        )
    }
    acked = set(range(paced["distinct_events"])) - set(paced["unacked"])
    stats = _receiver_stats()
    r.update(
        paced_rps=rate,
        paced_requests=paced["requests"],
        paced_achieved_rps=paced["achieved_rps"],
        paced_p50_ms=paced["p50_ms"],
        ingest_p99_ms=paced["p99_ms"],
        paced_failures=paced["failures"],
        events_sent=len(acked),
        events_stored=len(stored & acked),
        events_lost=len(acked - stored),
        receiver_distinct_ids=stats["distinct_ids"],
        receiver_refused=stats["refused"],
        receiver_repeats=stats["repeats"],
    )
    if stats["distinct_ids"] != len(stored):
        bench.notes.append(
            f"paced: the receiver verified {stats['distinct_ids']} distinct "
            f"webhook-ids for {len(stored)} stored events"
        )
    if paced["failures"]:
        bench.notes.append(f"paced: {paced['failures']} requests failed: {paced['failure_kinds']}")
    print(
        f"  paced at {rate}/s: p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms; "
        f"{len(acked)} events acknowledged, {len(stored & acked)} stored, "
        f"{stats['distinct_ids']} delivered",
        flush=True,
    )


# ---------------------------------------------------------------- forward
def _make_deliveries(tp: TechProvider, n: int, offset: int) -> tuple[list[int], datetime]:
    """N deliveries of inbound-message events, built and saved by messaging's own services; their
    ids and the moment their transaction committed (the pump is nudged then)."""
    from django.db import transaction
    from django.utils import timezone

    from bench import forward_floor
    from messaging.services.deliveries import deliveries_save, envelope_render, initial_state

    now = timezone.now()
    rows = []
    for i in range(n):
        webhook_id, body = forward_floor.envelope(offset + i)
        data = json.loads(body)["data"]
        rows.append(
            Delivery(
                tech_provider=tp,
                webhook_id=webhook_id,
                event_type="message.received",
                body=envelope_render(
                    webhook_id=webhook_id,
                    event_type="message.received",
                    data=data,
                    created_at=now,
                    occurred_at=now,
                    waba_id=conf.BENCH_WABA_ID,
                    phone_number_id=conf.BENCH_PHONE_NUMBER_ID,
                    source="meta",
                    field="messages",
                ),
                **initial_state(tp, now),
            )
        )
    with transaction.atomic():
        deliveries_save(rows)  # nudges the pump after commit, as processing does
    committed = timezone.now()
    ids = Delivery.objects.filter(webhook_id__in=[d.webhook_id for d in rows]).values_list(
        "id", flat=True
    )
    return list(ids), committed


def _forward_platform(bench: Bench, tp: TechProvider, n: int, round_: int) -> dict[str, Any]:
    """N deliveries committed at once; from the commit until the pump has sent and recorded
    them all (so the pump's reaction to the nudge is counted)."""
    _receiver_reset(bench)
    worker = bench.services["celery-worker"]
    cpu_before, pg_before = worker.cpu_seconds(), _pg_cpu()
    ids, committed = _make_deliveries(tp, n, offset=1_000_000 * round_)
    recording = (
        _profile(bench, "celery-worker", "forward", max(2, n / 400)) if round_ == 1 else None
    )
    _wait_drained(bench, bench.d.drain_cap_s)
    cpu = worker.cpu_seconds() - cpu_before + _pg_cpu_since(pg_before)
    _profiled(recording)
    done = Delivery.objects.filter(id__in=ids, state=Delivery.State.SUCCEEDED)
    last = done.aggregate(last=Max("updated_at"))["last"]
    seconds = (last - committed).total_seconds() if last else 0
    succeeded = done.count()
    stats = _receiver_stats()
    if stats["distinct_ids"] != n or stats["refused"]:
        bench.notes.append(f"forward: the receiver verified {stats['distinct_ids']} of {n}")
    return {
        "per_s": round(succeeded / seconds, 1) if seconds > 0 else 0.0,
        "unfinished": n - succeeded,
        "attempts": DeliveryAttempt.objects.filter(delivery_id__in=ids).count(),
        "receiver_ids": stats["distinct_ids"],
        "cpu_ms": round(1000 * cpu / n, 3),
    }


def _forward_floor(bench: Bench, n: int) -> dict[str, Any]:
    _receiver_reset(bench)
    # Niced like the Celery workers, so other work on the box weighs on both alike.
    nice = ["nice", "-n", str(conf.CELERY_NICE)] if conf.CELERY_NICE else []
    floor = subprocess.run(  # noqa: S603 - our own module
        [
            *nice,
            sys.executable,
            "-m",
            "bench.forward_floor",
            f"{RECEIVER_URL}/hooks/",
            str(n),
            "--processes",
            "2",
        ],
        env={**conf.base_env(), "RECEIVER_SECRET": bench.receiver_secrets[0]},
        cwd=conf.ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(floor.stdout.strip().splitlines()[-1])
    stats = _receiver_stats()
    if result["failures"] or stats["distinct_ids"] != n:
        bench.notes.append(
            f"forward floor: {result['failures']} failures, receiver verified "
            f"{stats['distinct_ids']} of {n}"
        )
    result["cpu_ms"] = round(1000 * result["cpu_s"] / n, 3)
    return result


def phase_forward(bench: Bench) -> None:
    """The pump and the requests loop in alternating rounds, each N deliveries."""
    r = bench.results
    n = bench.d.forward_n
    _workers(bench)
    _wait_drained(bench, bench.d.drain_cap_s)
    tp = TechProvider.objects.get(pk=bench.tech_provider_id)
    ours, floors = [], []
    for round_ in range(1, bench.d.rounds + 1):
        bench.sampler.phase = "forward"
        ours.append(_forward_platform(bench, tp, n, round_))
        bench.sampler.phase = "forward-floor"
        floors.append(_forward_floor(bench, n))
        print(
            f"  forwarding, round {round_}: {ours[-1]['per_s']}/s "
            f"(CPU {ours[-1]['cpu_ms']} ms each, workers + PostgreSQL); requests loop x2: "
            f"{floors[-1]['per_s']}/s (CPU {floors[-1]['cpu_ms']} ms each)",
            flush=True,
        )
    r.update(
        forward_per_s=_mean([o["per_s"] for o in ours]),
        forward_rounds=[o["per_s"] for o in ours],
        forward_floor_per_s=_mean([f["per_s"] for f in floors]),
        forward_floor_rounds=[f["per_s"] for f in floors],
        forward_n=n,
        forward_unfinished=sum(o["unfinished"] for o in ours),
        forward_attempts=sum(o["attempts"] for o in ours),
        forward_receiver_ids=sum(o["receiver_ids"] for o in ours),
        forward_cpu_ms=_mean([o["cpu_ms"] for o in ours]),
        forward_floor_cpu_ms=_mean([f["cpu_ms"] for f in floors]),
    )


# ---------------------------------------------------------------- onboarding
def phase_onboarding(bench: Bench) -> None:
    from bench import onboarding_run

    onboarding_run.run(bench)


# ---------------------------------------------------------------- send
def phase_send(bench: Bench) -> None:
    from bench import send_run

    send_run.run(bench)


# ---------------------------------------------------------------- dispatch
def phase_dispatch(bench: Bench) -> None:
    from bench import dispatch_run

    dispatch_run.run(bench)
