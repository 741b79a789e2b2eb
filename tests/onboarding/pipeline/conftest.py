"""Fixtures for pipeline tests: Meta faked at the HTTP level, a recording broker, a driver."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import responses
from celery.app.task import Task
from django.db import connection
from django.utils import timezone

from onboarding.models import Onboarding, OnboardingStep, WhatsAppBusinessAccount
from onboarding.services import pipeline
from onboarding.services.signup import embedded_signup_submit
from onboarding.signup_input import SignupInput
from tests.conftest import Account

BASE = "https://graph.test"
V = "v26.0"
APP_ID = "4242"
SYSTEM_TOKEN = "SYSTEM-USER-TOKEN"
BUSINESS_TOKEN = "EAAB-BUSINESS-TOKEN"
CREDIT_LINE = "900000000000009"
WABA_ID = "104996789012345"
BUSINESS_ID = "203456789012345"
PHONE_ID = "1069999000001"
ALLOCATION = "5550001"
FUNDING = "7770001"
CALLBACK = f"https://platform.test/webhooks/meta/waba/{WABA_ID}/"

Step = OnboardingStep.Name
StepStatus = OnboardingStep.Status


def graph_url(path: str) -> str:
    return f"{BASE}/{V}/{path}"


def envelope(
    code: int, message: str = "Meta says no", subcode: int | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": f"TRACE{code}",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeMeta:
    """`responses` with the endpoints a full onboarding calls, and call counting."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock

    def calls(self, method: str | None = None, path: str | None = None) -> list[Any]:
        return [
            c
            for c in self.mock.calls
            if (method is None or c.request.method == method)
            and (path is None or str(c.request.url).split("?")[0] == graph_url(path))
        ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.calls(method, path))

    def fail(self, method: str, path: str, code: int, *, status: int = 400, times: int = 1) -> None:
        """The next `times` calls fail with Meta's envelope (register these before the success)."""
        for _ in range(times):
            self.mock.add(method, graph_url(path), status=status, json=envelope(code))

    def subscribe(self, *, listed: bool = True, override: str = CALLBACK) -> None:
        self.mock.post(graph_url(f"{WABA_ID}/subscribed_apps"), json={"success": True})
        apps = [{"whatsapp_business_api_data": {"id": APP_ID, "name": "BSP"}}]
        if override:
            apps[0]["override_callback_uri"] = override  # type: ignore[assignment]
        self.mock.get(
            graph_url(f"{WABA_ID}/subscribed_apps"), json={"data": apps if listed else []}
        )

    def credit(self, *, credential: str = FUNDING, funding: str = FUNDING) -> None:
        self.mock.post(
            graph_url(f"{CREDIT_LINE}/whatsapp_credit_sharing_and_attach"),
            json={"allocation_config_id": ALLOCATION, "waba_id": WABA_ID},
        )
        self.mock.get(
            graph_url(ALLOCATION),
            json={"id": ALLOCATION, "receiving_credential": {"id": credential}},
        )
        self.mock.get(graph_url(WABA_ID), json={"id": WABA_ID, "primary_funding_id": funding})

    def register(self) -> None:
        self.mock.post(graph_url(f"{PHONE_ID}/register"), json={"success": True})

    def phone(self, status: str = "CONNECTED") -> None:
        self.mock.get(
            graph_url(PHONE_ID),
            json={
                "id": PHONE_ID,
                "display_phone_number": "+1 555-0100",
                "verified_name": "Acme Shoes",
                "quality_rating": "GREEN",
                "status": status,
                "code_verification_status": "VERIFIED",
                "name_status": "APPROVED",
                "throughput": {"level": "STANDARD"},
                "whatsapp_business_manager_messaging_limit": "TIER_1K",
            },
        )

    def everything(self) -> None:
        self.subscribe()
        self.credit()
        self.register()
        self.phone()


@pytest.fixture(autouse=True)
def _meta_settings(settings: Any) -> None:
    settings.GRAPH_API_BASE_URL = BASE
    settings.GRAPH_API_VERSION = V
    settings.META_APP_ID = APP_ID
    settings.META_SYSTEM_USER_TOKEN = SYSTEM_TOKEN
    settings.META_CREDIT_LINE_ID = CREDIT_LINE
    settings.PUBLIC_BASE_URL = "https://platform.test"
    settings.PIPELINE_RETRY_BASE_S = 2.0
    settings.PIPELINE_RETRY_CAP_S = 300.0
    settings.PIPELINE_MAX_ATTEMPTS = 5
    settings.PIPELINE_STEP_LEASE_S = 120.0
    settings.PIPELINE_CRASH_AFTER = ""


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeMeta(mock)


@dataclass
class Published:
    task: str
    args: tuple[Any, ...]
    countdown: float | None
    eta: Any


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> list[Published]:
    """Every task published (apply_async/delay), recorded instead of sent."""
    published: list[Published] = []

    def apply_async(self: Task, args: Any = None, kwargs: Any = None, **options: Any) -> None:  # type: ignore[type-arg]
        published.append(
            Published(self.name, tuple(args or ()), options.get("countdown"), options.get("eta"))
        )

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return published


def make_onboarding(
    account: Account,
    *,
    phone_number_id: str | None = PHONE_ID,
    signup_event: str = WhatsAppBusinessAccount.SignupEvent.FINISH,
    business_token: str = BUSINESS_TOKEN,
    waba_id: str = WABA_ID,
) -> Onboarding:
    signup = SignupInput(waba_id, BUSINESS_ID, phone_number_id, "cust-1")
    return embedded_signup_submit(
        tech_provider=account.tech_provider,
        signup=signup,
        signup_event=signup_event,
        business_token=business_token,
    )


@pytest.fixture
def onboarding(account: Account) -> Onboarding:
    return make_onboarding(account)


def step_of(onboarding: Onboarding, name: str) -> OnboardingStep:
    return OnboardingStep.objects.select_related("onboarding__waba").get(
        onboarding=onboarding, name=name
    )


def complete_steps_before(onboarding: Onboarding, name: str) -> None:
    """Mark every step before `name` succeeded, as if they had run."""
    position = step_of(onboarding, name).position
    onboarding.steps.filter(position__lt=position, status=StepStatus.PENDING).update(
        status=StepStatus.SUCCEEDED
    )


def run_step(onboarding: Onboarding, name: str) -> OnboardingStep:
    """Run one step through the runner (claim, service, record) and reload it."""
    step = step_of(onboarding, name)
    pipeline.onboarding_step_run(step_id=step.pk, name=step.name)
    return step_of(onboarding, name)


def make_due(step: OnboardingStep) -> None:
    """Fast-forward: a waiting step's time has come, a running step's lease has expired."""
    past = timezone.now() - timedelta(seconds=1)
    OnboardingStep.objects.filter(pk=step.pk, status=StepStatus.WAITING).update(
        next_attempt_at=past
    )
    OnboardingStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING).update(
        lease_expires_at=past
    )


def drive(onboarding: Onboarding, *, rounds: int = 60) -> Onboarding:
    """Run the onboarding to the end as workers would, skipping every wait."""
    for _ in range(rounds):
        onboarding.refresh_from_db()
        if onboarding.status in (Onboarding.Status.ACTIVE, Onboarding.Status.FAILED):
            return onboarding
        step = (
            onboarding.steps.exclude(status__in=(StepStatus.SUCCEEDED, StepStatus.SKIPPED))
            .order_by("position")
            .first()
        )
        assert step is not None
        make_due(step)
        pipeline.onboarding_step_run(step_id=step.pk, name=step.name)
    raise AssertionError("the onboarding did not finish")


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Run the on-commit callbacks of what happens inside (they enqueue tasks)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def raw_column(table: str, column: str) -> str:
    """Every stored value of a column, as the database holds it (ciphertext for secrets)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - test-only, fixed names
        return "\n".join(str(row[0]) for row in cursor.fetchall())
