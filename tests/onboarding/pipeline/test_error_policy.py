"""How the runner treats each class of error: back off, wait long, or fail with a reason."""

from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from onboarding.models import Onboarding, TechProviderEvent, WhatsAppBusinessAccount
from onboarding.services import pipeline

from .conftest import (
    PHONE_ID,
    WABA_ID,
    FakeMeta,
    Published,
    Step,
    StepStatus,
    drive,
    graph_url,
    make_due,
    run_step,
)

REGISTER = f"{PHONE_ID}/register"


def _to_register(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.subscribe()
    meta.credit()
    for name in (Step.SUBSCRIBE_WEBHOOKS, Step.SHARE_CREDIT_LINE):
        run_step(onboarding, name)


@pytest.mark.parametrize(
    ("code", "status"),
    [(1, 500), (2, 503), (4, 400), (17, 400), (80007, 400), (130429, 400), (133004, 503)],
)
def test_a_retryable_code_backs_off_with_jitter(
    meta: FakeMeta, onboarding: Onboarding, code: int, status: int
) -> None:
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, code, status=status)
    before = timezone.now()
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.WAITING
    assert (step.last_error_code, step.last_fbtrace_id) == (code, f"TRACE{code}")
    assert step.next_attempt_at is not None
    delay = (step.next_attempt_at - before).total_seconds()
    assert 1.0 <= delay <= 2.5  # attempt 1: base 2 s, half jittered
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.WAITING


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("reset"), requests.ReadTimeout("slow")],
)
def test_a_network_error_backs_off_with_the_outcome_unknown(
    meta: FakeMeta, onboarding: Onboarding, failure: Exception
) -> None:
    _to_register(meta, onboarding)
    meta.mock.post(graph_url(REGISTER), body=failure)
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert (step.status, step.outcome_unknown) == (StepStatus.WAITING, True)
    assert step.last_error_code is None
    assert "POST" in step.last_error_message


def test_a_5xx_without_envelope_backs_off(meta: FakeMeta, onboarding: Onboarding) -> None:
    _to_register(meta, onboarding)
    meta.mock.post(graph_url(REGISTER), status=502, body="<html>bad gateway</html>")
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert (step.status, step.outcome_unknown) == (StepStatus.WAITING, True)


def test_code_2_twice_costs_exactly_two_extra_calls(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.subscribe()
    meta.credit()
    meta.fail("POST", REGISTER, 2, status=503, times=2)
    meta.register()
    meta.phone()
    drive(onboarding)
    assert onboarding.status == Onboarding.Status.ACTIVE
    assert meta.count() == 8 + 2
    assert meta.count("POST", REGISTER) == 3


def test_backoff_grows_exponentially_and_is_capped() -> None:
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64), (9, 300), (30, 300)]:
        delays = [pipeline.retry_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        assert len(set(delays)) > 1  # jittered


def test_retries_stop_after_max_attempts_with_a_reason(
    meta: FakeMeta, onboarding: Onboarding, settings: Any
) -> None:
    settings.PIPELINE_MAX_ATTEMPTS = 3
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, 2, status=503, times=5)
    for _ in range(3):
        step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
        make_due(step)
    assert step.status == StepStatus.FAILED
    assert step.attempts == 3
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED
    assert "still failing after 3 attempts" in onboarding.failure_reason
    assert meta.count("POST", REGISTER) == 3


@pytest.mark.parametrize(("code", "hours"), [(133016, 72), (133008, 12), (133009, 1), (368, 24)])
def test_a_wait_long_code_waits_in_the_database(
    meta: FakeMeta, onboarding: Onboarding, code: int, hours: int
) -> None:
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, code)
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.WAITING
    assert step.next_attempt_at is not None
    wait = step.next_attempt_at - timezone.now()
    assert timedelta(hours=hours) - timedelta(minutes=1) < wait <= timedelta(hours=hours)
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.WAITING
    reason = onboarding.events.filter(to_status="waiting", step="").last()
    assert reason is not None
    assert "resumes" in reason.reason


@pytest.mark.parametrize(
    ("code", "status", "phrase"),
    [
        (133005, 400, "two-step verification PIN"),
        (133006, 400, "re-verified"),
        (100, 400, "Fix the cause, then retry"),
        (190, 401, "Embedded Signup again"),
        (200, 403, "lack of permission"),
        (131031, 400, "locked"),
    ],
)
def test_a_permanent_code_fails_the_onboarding_with_an_actionable_reason(
    meta: FakeMeta, onboarding: Onboarding, code: int, status: int, phrase: str
) -> None:
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, code, status=status)
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.FAILED
    assert step.attempts == 1
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED
    assert phrase in onboarding.failure_reason
    assert f"Meta error {code}" in onboarding.failure_reason
    assert step.note == onboarding.failure_reason
    waba = WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)
    assert waba.status == WhatsAppBusinessAccount.Status.FAILED
    event = TechProviderEvent.objects.get(event_type="waba.onboarding_failed")
    assert event.payload["reason"] == onboarding.failure_reason
    assert event.payload["step"] == Step.REGISTER_PHONE_NUMBER


def test_the_audit_row_of_a_failure_holds_metas_ids(meta: FakeMeta, onboarding: Onboarding) -> None:
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, 133005)
    run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    row = onboarding.events.get(step=Step.REGISTER_PHONE_NUMBER, to_status="failed")
    assert row.detail["code"] == 133005
    assert row.detail["fbtrace_id"] == "TRACE133005"
    assert row.detail["http_status"] == 400


def test_an_unexpected_exception_is_retried_not_lost(
    meta: FakeMeta, onboarding: Onboarding, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(pipeline.STEP_SERVICES, Step.SUBSCRIBE_WEBHOOKS, broken)
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert (step.status, step.outcome_unknown) == (StepStatus.WAITING, True)


def test_a_wait_long_error_publishes_nothing(
    meta: FakeMeta, onboarding: Onboarding, broker: list[Published], on_commit: Any
) -> None:
    _to_register(meta, onboarding)
    meta.fail("POST", REGISTER, 133016)
    with on_commit():
        run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert broker == []
