"""The onboarding pipeline end to end: the platform and the sandbox served by gunicorn over real
HTTP, real Celery worker processes and celery beat on Redis, the test only a client.

The kill test uses the PIPELINE_CRASH_AFTER hook (onboarding/services/faults.py): a worker run
with it SIGKILLs itself right after the named step's Graph call, before the step is recorded.
Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); skipped otherwise.
"""

import base64
import collections
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.conf import settings

from onboarding.graph import GraphClient
from onboarding.models import Onboarding, OnboardingEvent, PhoneNumber, TechProvider
from onboarding.services.signup import embedded_signup_submit
from onboarding.services.tech_providers import tech_provider_create
from onboarding.signup_input import SignupInput
from tests.e2e.stack import Stack, wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

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

    wait_for(done, timeout=timeout, what=f"the onboarding of {waba_id} to finish")
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
    # The answer reads the onboarding after the retry committed: a worker may have started it.
    assert response.json()["onboarding"]["status"] in ("pending", "running")
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
        wait_for(_exited(worker), timeout=60, what=f"the kill at {point}")
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
