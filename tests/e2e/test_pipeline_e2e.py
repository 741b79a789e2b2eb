"""The onboarding pipeline end to end: the platform and the sandbox served by gunicorn over real
HTTP, real Celery worker processes and celery beat on Redis, the test only a client.

The kill test uses the PIPELINE_CRASH_AFTER hook (onboarding/services/faults.py): a worker run
with it SIGKILLs itself right after the named step's Graph call, before the step is recorded.
Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); skipped otherwise.
"""

import base64
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.conf import settings
from django.db import connections

from onboarding.graph import GraphClient
from onboarding.models import Onboarding, OnboardingEvent, PhoneNumber, TechProvider
from onboarding.services.signup import embedded_signup_submit
from onboarding.services.tech_providers import tech_provider_create
from onboarding.signup_input import SignupInput

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PORTS = range(18110, 18200)  # this suite's share of the pipeline helper's 18100-18199
DONE = (Onboarding.Status.ACTIVE, Onboarding.Status.FAILED)
# What one clean onboarding costs in Graph calls, by sandbox endpoint.
CLEAN_RUN = {
    "subscribed_apps.post": 2,  # subscribe, then the override
    "subscribed_apps.get": 1,  # confirm
    "credit_line.share": 1,
    "allocation.get": 1,  # verify: receiving credential ...
    "waba.get": 1,  # ... against primary_funding_id
    "phone_number.register": 1,
    "phone_number.get": 1,
}


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 18110-18199")


def _wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Stack:
    """gunicorn (platform + sandbox) and celery beat, shared by the module; workers per test."""

    url: str
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0
    prefix: str = "w"

    def start_worker(self, *, pool: str = "prefork", **env: str) -> subprocess.Popen[bytes]:
        self.started += 1
        name = f"{self.prefix}{self.started}"
        command = [
            str(BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-n", f"{name}@%h",
            "--pool", pool, "--concurrency", "1" if pool == "solo" else "2",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        log = open(self.logs / f"worker-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        log_path = self.logs / f"worker-{name}.log"
        _wait_for(
            lambda: " ready." in log_path.read_text(errors="replace") or worker.poll() is not None,
            timeout=60,
            what=f"worker {name}",
        )
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.workers.clear()

    # --------------------------------------------------------------- the sandbox, over HTTP

    def control(self, method: str, path: str, **body: Any) -> Any:
        response = requests.request(
            method, f"{self.url}/sandbox/control/{path}", json=body or None, timeout=10
        )
        assert response.status_code < 300, response.text
        return response.json()

    def calls(self, **query: str) -> list[dict[str, Any]]:
        return list(self.control("GET", "calls/?limit=1000&" + _query(query))["data"])

    def endpoint_counts(self) -> collections.Counter[str]:
        return collections.Counter(call["endpoint"] for call in self.calls())

    def signup(self, **choices: str) -> dict[str, Any]:
        return dict(self.control("POST", "signups/", **choices))


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = connections["default"].settings_dict
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("pipeline-e2e")
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.REDIS_URL,
        "PUBLIC_BASE_URL": url,
        "GRAPH_API_BASE_URL": f"{url}/sandbox/graph",
        "SANDBOX_ENABLED": "True",
        "SANDBOX_WEBHOOK_DISPATCH": "manual",  # no webhooks: only the pipeline talks to Meta
        "PIPELINE_RETRY_BASE_S": "0.2",
        "PIPELINE_SWEEP_INTERVAL_S": "1",
        "PIPELINE_STALE_S": "5",
        "PIPELINE_CRASH_AFTER": "",
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery", "unacked", "unacked_index")
    server = _spawn(
        [
            str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", "16",
            "--timeout", "60", "--access-logfile", "-",
        ],
        env,
        logs / "gunicorn.log",
    )  # fmt: skip
    beat = _spawn(
        [
            str(BIN / "celery"), "-A", "config", "beat", "-l", "INFO",
            "-s", str(logs / "beat-schedule"), "--pidfile=",
        ],
        env,
        logs / "beat.log",
    )  # fmt: skip

    def server_up() -> bool:
        try:
            return requests.get(f"{url}/sandbox/control/faults/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    the_stack = Stack(url=url, env=env, logs=logs)
    try:
        _wait_for(server_up, timeout=30, what="gunicorn")
        yield the_stack
    finally:
        the_stack.stop_workers()
        _stop(beat)
        _stop(server)
        broker.delete("celery", "unacked", "unacked_index")


@dataclass
class Client:
    """A Tech Provider calling our REST API over HTTP."""

    stack: Stack
    tech_provider: TechProvider
    auth_token: str

    @property
    def base(self) -> str:
        return f"{self.stack.url}/v1/Account/{self.tech_provider.auth_id}/WhatsApp/EmbeddedSignup/"

    def _auth(self) -> dict[str, str]:
        raw = f"{self.tech_provider.auth_id}:{self.auth_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def submit(self, signup: dict[str, Any]) -> dict[str, Any]:
        body = {key: signup[key] for key in ("waba_id", "business_id", "phone_number_id")}
        response = requests.post(self.base, json=body, headers=self._auth(), timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def detail(self, waba_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.base}{waba_id}/", headers=self._auth(), timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def retry(self, waba_id: str) -> requests.Response:
        return requests.post(f"{self.base}{waba_id}/Retry/", headers=self._auth(), timeout=30)


@pytest.fixture
def platform(stack: Stack, transactional_db: None) -> Iterator[Client]:
    """A clean sandbox, a Tech Provider, and the stack's workers stopped afterwards."""
    stack.control("POST", "reset/")
    issued = tech_provider_create(name="E2E ISV")
    yield Client(stack, issued.tech_provider, issued.auth_token)
    stack.stop_workers()


def wait_done(waba_id: str, *, timeout: float = 30) -> Onboarding:
    def done() -> bool:
        return Onboarding.objects.filter(waba__waba_id=waba_id, status__in=DONE).exists()

    _wait_for(done, timeout=timeout, what=f"the onboarding of {waba_id} to finish")
    return Onboarding.objects.select_related("waba").get(waba__waba_id=waba_id)


def _report(name: str, **figures: object) -> None:
    line = " ".join(f"{key}={value}" for key, value in figures.items())
    print(f"\nE2E {name}: {line}")  # noqa: T201 - benchmark figures, read with -s


# ---------------------------------------------------------------- accepted -> active


def test_a_signup_goes_from_accepted_to_active(platform: Client) -> None:
    stack = platform.stack
    stack.start_worker()
    signup = stack.signup()
    started = time.monotonic()
    accepted = platform.submit(signup)
    assert accepted["onboarding_status"] == "pending"
    onboarding = wait_done(signup["waba_id"])
    elapsed = time.monotonic() - started

    assert onboarding.status == Onboarding.Status.ACTIVE, onboarding.failure_reason
    detail = platform.detail(signup["waba_id"])
    assert detail["status"] == "active"
    assert [s["status"] for s in detail["onboarding"]["steps"]] == ["succeeded"] * 5
    (number,) = detail["phone_numbers"]
    assert number["registration"] == "registered"
    assert number["display_phone_number"]
    assert number["meta_status"] == "CONNECTED"
    assert stack.endpoint_counts() == collections.Counter(CLEAN_RUN)
    assert {call["token_kind"] for call in stack.calls()} == {"SYSTEM_USER"}  # no business token
    _report("accepted->active", seconds=f"{elapsed:.2f}", graph_calls=sum(CLEAN_RUN.values()))


def test_code_2_twice_still_gets_there_with_exactly_two_extra_calls(platform: Client) -> None:
    stack = platform.stack
    stack.start_worker()
    stack.control("POST", "faults/", endpoint="phone_number.register", error_code=2, times=2)
    signup = stack.signup()
    started = time.monotonic()
    platform.submit(signup)
    onboarding = wait_done(signup["waba_id"])
    elapsed = time.monotonic() - started

    assert onboarding.status == Onboarding.Status.ACTIVE, onboarding.failure_reason
    counts = stack.endpoint_counts()
    assert counts == collections.Counter(CLEAN_RUN) + collections.Counter(
        {"phone_number.register": 2}
    )
    assert sum(counts.values()) == sum(CLEAN_RUN.values()) + 2
    failed = stack.calls(endpoint="phone_number.register", error_code="2")
    assert len(failed) == 2
    assert all(call["status_code"] == 503 for call in failed)
    register = onboarding.steps.get(name="register_phone_number")
    assert register.attempts == 3
    retries = OnboardingEvent.objects.filter(
        onboarding=onboarding, step="register_phone_number", to_status="waiting"
    )
    assert retries.count() == 2
    assert all(row.detail["code"] == 2 for row in retries)
    _report("code-2-twice", seconds=f"{elapsed:.2f}", graph_calls=sum(counts.values()))


def _assert_failed_with_the_pin_reason(platform: Client, waba_id: str) -> None:
    onboarding = wait_done(waba_id)
    assert onboarding.status == Onboarding.Status.FAILED
    detail = platform.detail(waba_id)
    assert detail["status"] == "failed"
    reason = detail["onboarding"]["failure_reason"]
    assert "already has a two-step verification PIN" in reason
    assert "turn it off in WhatsApp Manager" in reason
    step = next(s for s in detail["onboarding"]["steps"] if s["name"] == "register_phone_number")
    assert step["status"] == "failed"
    assert step["last_error"]["code"] == 133005
    assert step["last_error"]["fbtrace_id"]


def _retry_to_active(platform: Client, waba_id: str) -> Onboarding:
    response = platform.retry(waba_id)
    assert response.status_code == 200, response.text
    assert response.json()["onboarding"]["status"] == "pending"
    onboarding = wait_done(waba_id)
    assert onboarding.status == Onboarding.Status.ACTIVE, onboarding.failure_reason
    again = platform.retry(waba_id)
    assert again.status_code == 409
    assert again.json()["error"] == "Only a failed onboarding can be retried; this one is active."
    return onboarding


def test_a_pin_mismatch_fails_with_the_reason_then_retry_reaches_active(
    platform: Client,
) -> None:
    stack = platform.stack
    stack.start_worker()
    fault = stack.control(
        "POST", "faults/", endpoint="phone_number.register", error_code=133005, times=None
    )
    signup = stack.signup()
    platform.submit(signup)
    _assert_failed_with_the_pin_reason(platform, signup["waba_id"])
    assert len(stack.calls(endpoint="phone_number.register")) == 1  # permanent: not retried

    stack.control("DELETE", f"faults/{fault['id']}/")
    _retry_to_active(platform, signup["waba_id"])
    register = stack.calls(endpoint="phone_number.register")
    assert [call["status_code"] for call in register] == [400, 200]
    assert stack.endpoint_counts()["subscribed_apps.post"] == 2  # earlier steps not redone


def test_a_number_with_someone_elses_pin_recovers_once_the_customer_turns_it_off(
    platform: Client,
) -> None:
    """The sandbox's magic number: its two-step PIN was set by someone else (133005)."""
    stack = platform.stack
    stack.start_worker()
    signup = stack.signup(display_phone_number="+1 555 013 3005")
    platform.submit(signup)
    _assert_failed_with_the_pin_reason(platform, signup["waba_id"])

    phone_path = f"phone-numbers/{signup['phone_number_id']}/"
    stack.control("POST", phone_path, clear_pin=True, register_error_code=0)
    _retry_to_active(platform, signup["waba_id"])
    assert stack.control("GET", phone_path)["has_pin"] is True  # now the PIN we stored
    assert PhoneNumber.objects.get(phone_number_id=signup["phone_number_id"]).pin


def test_a_hosted_signup_uses_the_business_token_and_ours_for_credit(platform: Client) -> None:
    """The Connect page's path: the code is exchanged for the customer's business token (here
    by our GraphClient over HTTP), and the pipeline acts with it, except for the credit line."""
    stack = platform.stack
    stack.start_worker()
    signup = stack.signup()
    graph = GraphClient("", base_url=f"{stack.url}/sandbox/graph")
    token = graph.exchange_code_for_token(
        code=signup["code"], app_id=settings.SANDBOX_APP_ID, app_secret=settings.SANDBOX_APP_SECRET
    )
    embedded_signup_submit(
        tech_provider=platform.tech_provider,
        signup=SignupInput(
            signup["waba_id"], signup["business_id"], signup["phone_number_id"], "hosted-1"
        ),
        business_token=token.access_token,
        actor="test",
    )  # commits, then enqueues on the real broker
    onboarding = wait_done(signup["waba_id"])

    assert onboarding.status == Onboarding.Status.ACTIVE, onboarding.failure_reason
    kinds = {call["endpoint"]: call["token_kind"] for call in stack.calls()}
    assert kinds.pop("oauth.access_token") == ""
    assert kinds.pop("credit_line.share") == kinds.pop("allocation.get") == "SYSTEM_USER"
    assert set(kinds.values()) == {"BUSINESS"}


# ---------------------------------------------------------------- SIGKILL after each Graph call


def _exited(worker: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: worker.poll() is not None


CRASH_POINTS = [
    "subscribe_webhooks",  # after the override POST
    "share_credit_line",  # after whatsapp_credit_sharing_and_attach
    "register_phone_number",  # after register
    "fetch_phone_number",  # after the number's GET
]


def test_workers_killed_right_after_each_steps_graph_call_lose_nothing(platform: Client) -> None:
    """One signup, five workers: each of the first four SIGKILLs itself right after its step's
    Graph call, before recording it; the next takes the step over once its lease expires (the
    beat sweeper finds it), looks at Meta instead of repeating the call, and goes on."""
    stack = platform.stack
    lease = {"PIPELINE_STEP_LEASE_S": "2"}
    signup = stack.signup()
    started = time.monotonic()
    recoveries = []
    for position, point in enumerate(CRASH_POINTS):
        worker = stack.start_worker(pool="solo", PIPELINE_CRASH_AFTER=point, **lease)
        ready_at = time.monotonic()
        if position == 0:
            platform.submit(signup)
        _wait_for(_exited(worker), timeout=60, what=f"the kill at {point}")
        assert worker.returncode == -signal.SIGKILL, f"{point}: {worker.returncode}"
        step = Onboarding.objects.get(waba__waba_id=signup["waba_id"]).steps.get(name=point)
        assert step.status == "running", f"{point} was recorded before the kill"
        assert step.outcome_unknown
        recoveries.append(round(time.monotonic() - ready_at, 2))  # takeover, then the kill
    stack.start_worker(pool="solo", **lease)
    onboarding = wait_done(signup["waba_id"], timeout=60)
    elapsed = time.monotonic() - started

    assert onboarding.status == Onboarding.Status.ACTIVE, onboarding.failure_reason
    counts = stack.endpoint_counts()
    assert counts["phone_number.register"] == 1
    assert counts["credit_line.share"] == 1
    assert counts["subscribed_apps.post"] == 2  # subscribe + override, neither repeated
    takeovers = OnboardingEvent.objects.filter(
        onboarding=onboarding, from_status="running", to_status="running"
    )
    assert sorted(takeovers.values_list("step", flat=True)) == sorted(CRASH_POINTS)
    assert all("expired" in row.reason for row in takeovers)
    steps = {s.name: s for s in onboarding.steps.all()}
    assert [steps[name].attempts for name in CRASH_POINTS] == [2, 2, 2, 2]
    assert steps["register_phone_number"].result.get("found_registered") is True
    waba = onboarding.waba
    assert waba.allocation_config_id
    assert PhoneNumber.objects.get(waba=waba).registration == "registered"
    _report(
        "kill-test",
        seconds=f"{elapsed:.2f}",
        graph_calls=sum(counts.values()),
        by_endpoint=dict(sorted(counts.items())),
        ready_to_kill_s=recoveries,
    )
