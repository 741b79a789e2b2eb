"""Chaos run (CW-5, WH-4, TH-4): onboardings and Meta webhook events pushed through the real
stack while workers are SIGKILLed at random and Redis is restarted once; then everything must be
in a final state, no event lost or doubled, and nothing Meta forbids repeating done twice.

The stack, all on this machine: gunicorn (platform + sandbox), celery beat, WORKERS prefork
workers, and a redis-server of its own (broker and cache) on a port of the 18700-18799 range,
run without persistence, so its restart loses every queued message and the beat sweeps must
find the work again in PostgreSQL. A local receiver is the Tech Provider's callback URL.

    python -m scripts.chaos                       # on demand: 200 onboardings, 5,000 events
    python -m scripts.chaos --onboardings 20 --events 500 --seed 7
    DATABASE_URL=postgres://... python -m scripts.chaos   # default database: platform_chaos

Standalone it (re)creates its database and migrates it; tests/hardening/test_chaos.py runs the
CI size through `run()` on the test database. Figures are printed as one `CHAOS` line.
"""

import argparse
import collections
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PORTS = range(18740, 18800)  # this run's ports (the 18700-18799 range, upper part)
EVENTS_PER_POST = 5  # Meta batches several messages in one webhook
DUPLICATE_SHARE = 0.2  # posts sent twice, as Meta's retries do
HOSTED_SHARE = 0.1  # onboardings through the Connect page (a code exchange each)


@dataclass
class Figures:
    onboardings: int = 0
    hosted: int = 0
    events: int = 0
    posts: int = 0
    duplicate_posts: int = 0
    worker_kills: int = 0
    redis_restarts: int = 0
    graph_faults: int = 0
    client_retries: int = 0
    seconds: float = 0.0
    final: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        final = " ".join(f"{k}={v}" for k, v in self.final.items())
        return (
            f"CHAOS onboardings={self.onboardings} (hosted {self.hosted}) events={self.events} "
            f"posts={self.posts} (+{self.duplicate_posts} duplicates) "
            f"worker_kills={self.worker_kills} redis_restarts={self.redis_restarts} "
            f"graph_faults={self.graph_faults} client_retries={self.client_retries} "
            f"seconds={self.seconds:.1f} | {final} | problems={len(self.problems)}"
        )


def free_port(taken: set[int]) -> int:
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                taken.add(port)
                return port
    raise RuntimeError("no free port in 18740-18799")


def wait_for(check: Any, *, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# ------------------------------------------------------------------------- processes


class Processes:
    """Everything this run started, each in its own session, stopped by its own id."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.workers: list[subprocess.Popen[bytes]] = []
        self.others: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_redis(self, port: int) -> None:
        self.others["redis"] = self.spawn(
            "redis",
            [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--maxmemory-policy", "noeviction",
                "--dir", str(self.logs),
            ],
        )  # fmt: skip
        wait_for(lambda: _redis_up(port), timeout=10, what="redis-server")

    def kill_redis(self) -> None:
        redis = self.others.pop("redis")
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait()

    def start_web(self, port: int) -> None:
        self.others["web"] = self.spawn(
            "gunicorn",
            [
                str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}",
                "--worker-class", "gthread", "--workers", "2", "--threads", "16",
                "--timeout", "60",
            ],
        )  # fmt: skip

    def start_beat(self) -> None:
        self.others["beat"] = self.spawn(
            "beat",
            [
                str(BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
                "-s", str(self.logs / "beat-schedule"), "--pidfile=",
            ],
        )  # fmt: skip

    def start_worker(self) -> subprocess.Popen[bytes]:
        self.started += 1
        worker = self.spawn(
            f"worker-{self.started}",
            [
                str(BIN / "celery"), "-A", "config", "worker", "-l", "INFO",
                "-n", f"chaos{self.started}@%h", "--concurrency", "2",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def kill_worker(self, rng: random.Random) -> None:
        alive = [w for w in self.workers if w.poll() is None]
        if not alive:
            return
        victim = rng.choice(alive)
        os.killpg(victim.pid, signal.SIGKILL)  # the main process and its children
        victim.wait()
        self.workers.remove(victim)

    def keep_beat(self) -> None:
        beat = self.others.get("beat")
        if beat is not None and beat.poll() is not None:
            self.start_beat()

    def stop(self) -> None:
        for process in [*self.workers, *self.others.values()]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, *self.others.values()]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _redis_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# ------------------------------------------------------------------------- receiver


class Receiver:
    """The Tech Provider's endpoint: counts each webhook-id it is sent, answers 200."""

    def __init__(self, port: int) -> None:
        self.ids: collections.Counter[str] = collections.Counter()
        ids, lock = self.ids, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    ids[self.headers.get("webhook-id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}/hook"


# ------------------------------------------------------------------------- the client side


class Client:
    """The Tech Provider (API), the customer (Connect page) and Meta (webhooks), over HTTP.

    Every call is retried on a connection error or a 5xx, as the API tells clients to; API
    POSTs carry an Idempotency-Key so a retry cannot onboard twice."""

    def __init__(self, url: str, auth: tuple[str, str], figures: Figures) -> None:
        self.url, self.auth, self.figures = url, auth, figures

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        for attempt in range(60):
            try:
                response = requests.request(method, url, timeout=30, **kwargs)
                if response.status_code < 500:
                    return response
            except requests.RequestException:
                pass
            self.figures.client_retries += 1
            time.sleep(min(2.0, 0.1 * (attempt + 1)))
        raise RuntimeError(f"{method} {url} kept failing")

    def control(self, method: str, path: str, **body: Any) -> Any:
        response = self._call(method, f"{self.url}/sandbox/control/{path}", json=body or None)
        assert response.status_code < 300, response.text
        return response.json()

    def submit(self, signup: dict[str, Any]) -> None:
        body = {k: signup[k] for k in ("waba_id", "business_id", "phone_number_id")}
        response = self._call(
            "POST",
            f"{self.url}/v1/Account/{self.auth[0]}/WhatsApp/EmbeddedSignup/",
            json=body,
            auth=self.auth,
            headers={"Idempotency-Key": f"chaos-{signup['waba_id']}"},
        )
        assert response.status_code == 200, response.text

    def hosted(self, public_id: str, signup: dict[str, Any]) -> None:
        browser = requests.Session()
        page = browser.get(f"{self.url}/connect/{public_id}/", timeout=30)
        found = re.search(r'id="connect-config" type="application/json">(.*?)</script>', page.text)
        assert found is not None, page.status_code
        config = json.loads(found.group(1))
        data = {k: signup[k] for k in ("waba_id", "phone_number_id", "business_id")}
        # Not retried: the code is single use, a lost answer means a new signup (as in a browser).
        answer = browser.post(
            f"{self.url}{config['submitUrl']}",
            json={
                "nonce": config["nonce"],
                "code": signup["code"],
                "event": "FINISH",
                "data": data,
            },
            headers={"X-CSRFToken": config["csrfToken"]},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text

    def meta_post(self, raw: bytes, secret: str) -> None:
        signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        response = self._call(
            "POST",
            f"{self.url}/webhooks/meta/",
            data=raw,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )
        assert response.status_code == 200, response.text


def inbound_posts(signups: list[dict[str, Any]], events: int, tag: str) -> list[bytes]:
    """Meta webhook bodies: `events` inbound text messages, EVENTS_PER_POST per body, spread
    over the WABAs (many arrive before their WABA is onboarded: parked, then routed)."""
    posts = []
    for start in range(0, events, EVENTS_PER_POST):
        signup = signups[(start // EVENTS_PER_POST) % len(signups)]
        messages = [
            {
                "from": f"1555{n:07d}",
                "id": f"wamid.CHAOS{tag}.{n:07d}",
                "timestamp": str(1_790_000_000 + n),
                "type": "text",
                "text": {"body": f"message {n}"},
            }
            for n in range(start, min(start + EVENTS_PER_POST, events))
        ]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000",
                         "phone_number_id": signup["phone_number_id"]},
            "contacts": [{"profile": {"name": "Chaos"}, "wa_id": m["from"]} for m in messages],
            "messages": messages,
        }  # fmt: skip
        document = {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": signup["waba_id"], "changes": [{"field": "messages", "value": value}]}
            ],
        }
        posts.append(json.dumps(document, separators=(",", ":")).encode())
    return posts


# ------------------------------------------------------------------------- the run


def run(
    *,
    database_url: str,
    onboardings: int,
    events: int,
    workers: int = 3,
    seed: int = 1,
    kill_every: tuple[float, float] = (2.0, 6.0),
    timeout: float = 600.0,
) -> Figures:
    """One chaos run against an empty, migrated database; Django must be set up on it."""
    from django.conf import settings

    from onboarding.services.tech_providers import tech_provider_create

    rng = random.Random(seed)
    figures = Figures(onboardings=onboardings, events=events)
    logs = Path(tempfile.mkdtemp(prefix="chaos-"))
    taken: set[int] = set()
    redis_port, web_port, receiver_port = free_port(taken), free_port(taken), free_port(taken)
    url = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
        "PUBLIC_BASE_URL": url,
        "GRAPH_API_BASE_URL": f"{url}/sandbox/graph",
        "SANDBOX_ENABLED": "True",
        "SANDBOX_WEBHOOK_DISPATCH": "manual",
        "API_RATE_LIMIT_PER_S": "0",
        "PIPELINE_RETRY_BASE_S": "0.2",
        "PIPELINE_SWEEP_INTERVAL_S": "1",
        "PIPELINE_STALE_S": "5",
        "PIPELINE_STEP_LEASE_S": "6",  # a killed step is taken over after this
        "WEBHOOK_TIMEOUT_S": "2",
        "WEBHOOK_PUMP_BUDGET_S": "3",  # a killed pump's deliveries come back after ~23 s
        "WORKER_HEARTBEAT_INTERVAL_S": "5",
        "CONN_MAX_AGE": "0",
        "LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
        "PIPELINE_CRASH_AFTER": "",
    }
    processes = Processes(env, logs)
    receiver = Receiver(receiver_port)
    started = time.monotonic()
    try:
        processes.start_redis(redis_port)
        processes.start_web(web_port)
        processes.start_beat()
        for _ in range(workers):
            processes.start_worker()
        wait_for(lambda: _http_up(url), timeout=60, what="gunicorn")

        issued = tech_provider_create(
            name="Chaos ISV",
            webhook_url=receiver.url,
            meta_app_id=settings.SANDBOX_APP_ID,
            meta_app_secret=settings.SANDBOX_APP_SECRET,
            meta_config_id=settings.SANDBOX_CONFIG_ID,
        )
        client = Client(url, (issued.tech_provider.auth_id, issued.auth_token), figures)
        client.control("POST", "reset/")
        signups = [client.control("POST", "signups/") for _ in range(onboardings)]
        hosted = set(rng.sample(range(onboardings), k=max(1, int(onboardings * HOSTED_SHARE))))
        figures.hosted = len(hosted)
        # Meta's own hiccups on the steps' calls (code 2, retryable), besides ours.
        per_endpoint = max(1, onboardings // 10)
        for endpoint in ("subscribed_apps.post", "credit_line.share", "phone_number.register"):
            client.control("POST", "faults/", endpoint=endpoint, error_code=2, times=per_endpoint)
        figures.graph_faults = 3 * per_endpoint

        posts = inbound_posts(signups, events, tag=f"{seed}{rng.randrange(10**6)}")
        duplicates = rng.sample(range(len(posts)), k=int(len(posts) * DUPLICATE_SHARE))
        sends = posts + [posts[i] for i in duplicates]
        rng.shuffle(sends)
        figures.posts, figures.duplicate_posts = len(posts), len(duplicates)

        stop, disrupted = threading.Event(), threading.Event()
        chaos = threading.Thread(
            target=_chaos,
            args=(processes, rng, (stop, disrupted), figures, kill_every, redis_port),
        )
        chaos.start()
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                jobs = [
                    pool.submit(
                        client.hosted if n in hosted else _api_submit,
                        *((issued.tech_provider.public_id, s) if n in hosted else (client, s)),
                    )
                    for n, s in enumerate(signups)
                ]
                jobs += [
                    pool.submit(client.meta_post, raw, settings.META_APP_SECRET[0]) for raw in sends
                ]
                for job in jobs:
                    job.result()
            disrupted.wait(timeout)  # the run is not over before Redis has been restarted
            _wait_final(timeout=timeout, processes=processes)
        finally:
            stop.set()
            chaos.join()
        for _ in range(workers - len([w for w in processes.workers if w.poll() is None])):
            processes.start_worker()  # a full crew for the end, as after a deploy
        _wait_final(timeout=timeout, processes=processes)
        wait_for(lambda: _all_received(receiver), timeout=timeout, what="every delivery received")
        figures.seconds = time.monotonic() - started
        _check(figures, signups, hosted, posts, receiver)
    finally:
        processes.stop()
        receiver.server.shutdown()
        if figures.problems:
            figures.problems.append(f"logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    return figures


def _api_submit(client: Client, signup: dict[str, Any]) -> None:
    client.submit(signup)


def _http_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code in (200, 503)
    except requests.RequestException:
        return False


def _pause(rng: random.Random, figures: Figures, kill_every: tuple[float, float]) -> float:
    """Seconds until the next kill. The first two come within 0.5-1.5 s each, so that the Redis
    restart (with the second) hits work in flight even on a box fast enough to finish the CI
    size in a few seconds; then one every `kill_every`."""
    return rng.uniform(0.5, 1.5) if figures.worker_kills < 2 else rng.uniform(*kill_every)


def _chaos(
    processes: Processes,
    rng: random.Random,
    events: tuple[threading.Event, threading.Event],
    figures: Figures,
    kill_every: tuple[float, float],
    redis_port: int,
) -> None:
    """SIGKILL a random worker now and then (and start another); restart Redis once, with the
    second kill. `events`: stop (set by the run), and disrupted (set here after the restart)."""
    stop, disrupted = events
    while not stop.wait(_pause(rng, figures, kill_every)):
        processes.kill_worker(rng)
        figures.worker_kills += 1
        processes.start_worker()
        if figures.redis_restarts == 0 and figures.worker_kills >= 2:
            processes.kill_redis()  # no persistence: every queued message is gone
            time.sleep(1.0)
            processes.start_redis(redis_port)
            figures.redis_restarts += 1
            disrupted.set()
        processes.keep_beat()


def _wait_final(*, timeout: float, processes: Processes) -> None:
    from messaging.models import Delivery, WebhookEvent, WebhookPayload
    from onboarding.models import Onboarding, TechProviderEvent

    def final() -> bool:
        processes.keep_beat()
        return (
            not Onboarding.objects.exclude(status__in=["active", "failed"]).exists()
            and not WebhookPayload.objects.filter(expanded_at__isnull=True).exists()
            and not WebhookEvent.objects.filter(state__in=["pending", "parked"]).exists()
            and not TechProviderEvent.objects.filter(dispatched_at__isnull=True).exists()
            and not Delivery.objects.filter(state="pending").exists()
        )

    wait_for(final, timeout=timeout, what="every onboarding and delivery final", every=1.0)


def _all_received(receiver: Receiver) -> bool:
    from messaging.models import Delivery

    ids = set(Delivery.objects.values_list("webhook_id", flat=True))
    return ids <= set(receiver.ids)


def _check(
    figures: Figures,
    signups: list[dict[str, Any]],
    hosted: set[int],
    posts: list[bytes],
    receiver: Receiver,
) -> None:
    from messaging.models import Delivery, WebhookEvent
    from onboarding.models import Onboarding, TechProviderEvent
    from sandbox.models import SandboxCall

    problems = figures.problems
    statuses = collections.Counter(Onboarding.objects.values_list("status", flat=True))
    if sum(statuses.values()) != len(signups):
        problems.append(f"{len(signups)} onboardings submitted, {sum(statuses.values())} exist")
    if statuses.get("active", 0) != len(signups):
        problems.append(f"not all active: {dict(statuses)}")

    wamids = {m["id"] for raw in posts for m in _messages(raw)}
    stored = collections.Counter(
        WebhookEvent.objects.filter(field="messages").values_list("dedupe_key", flat=True)
    )
    keys = {f"message:{w}" for w in wamids}
    lost = keys - set(stored)
    doubled = [k for k, n in stored.items() if n > 1]
    if lost or doubled:
        problems.append(f"events lost {len(lost)}, stored twice {len(doubled)}")
    event_states = collections.Counter(WebhookEvent.objects.values_list("state", flat=True))

    deliveries = collections.Counter(Delivery.objects.values_list("webhook_id", flat=True))
    doubled_deliveries = [w for w, n in deliveries.items() if n > 1]
    delivery_states = collections.Counter(Delivery.objects.values_list("state", flat=True))
    undelivered = set(Delivery.objects.values_list("webhook_id", flat=True)) - set(receiver.ids)
    if doubled_deliveries or delivery_states.get("succeeded", 0) != sum(delivery_states.values()):
        problems.append(f"deliveries {dict(delivery_states)}, doubled {len(doubled_deliveries)}")
    if undelivered:
        problems.append(f"{len(undelivered)} deliveries never reached the receiver")
    told = TechProviderEvent.objects.filter(event_type="waba.active").count()
    expected = len(stored) + TechProviderEvent.objects.count()
    if told != statuses.get("active", 0) or sum(delivery_states.values()) != expected:
        problems.append(
            f"{told} waba.active events for {statuses.get('active', 0)} active WABAs; "
            f"{sum(delivery_states.values())} deliveries for {expected} events"
        )
    redelivered = sum(n - 1 for n in receiver.ids.values() if n > 1)

    def twice(endpoint: str, key: Any) -> int:
        calls = SandboxCall.objects.filter(endpoint=endpoint, status_code__lt=400)
        counts = collections.Counter(key(call) for call in calls)
        return sum(1 for n in counts.values() if n > 1)

    exchanges = SandboxCall.objects.filter(endpoint="oauth.access_token").count()
    register_twice = twice("phone_number.register", lambda c: c.object_id)
    share_twice = twice("credit_line.share", lambda c: c.params.get("waba_id"))
    if exchanges != len(hosted):
        problems.append(f"{exchanges} code exchanges for {len(hosted)} codes")
    if register_twice or share_twice:
        problems.append(f"registered twice {register_twice}, credit shared twice {share_twice}")
    figures.final = {
        "active": statuses.get("active", 0),
        "failed": statuses.get("failed", 0),
        "events_stored": sum(stored.values()),
        "events_lost": len(lost),
        "events_doubled": len(doubled),
        "event_states": dict(event_states),
        "deliveries": sum(delivery_states.values()),
        "delivered": delivery_states.get("succeeded", 0),
        "deliveries_doubled": len(doubled_deliveries),
        "received_again": redelivered,
        "code_exchanges": exchanges,
        "registered_twice": register_twice,
        "credit_shared_twice": share_twice,
    }


def _messages(raw: bytes) -> list[dict[str, Any]]:
    document = json.loads(raw)
    return [
        message
        for entry in document["entry"]
        for change in entry["changes"]
        for message in change["value"].get("messages", [])
    ]


# ------------------------------------------------------------------------- standalone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onboardings", type=int, default=200)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    options = parser.parse_args()
    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/platform_chaos"
    )
    _fresh_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SANDBOX_ENABLED", "True")
    import django

    django.setup()
    figures = run(
        database_url=database_url,
        onboardings=options.onboardings,
        events=options.events,
        workers=options.workers,
        seed=options.seed,
        timeout=options.timeout,
    )
    print(figures.line())  # noqa: T201 - the run's report
    for problem in figures.problems:
        print("PROBLEM", problem)  # noqa: T201
    return 1 if figures.problems else 0


def _fresh_database(database_url: str) -> None:
    """Drop and create the run's database, then migrate it (a chaos run starts empty)."""
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    for statement in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-c", statement], check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
    )


if __name__ == "__main__":
    sys.exit(main())
