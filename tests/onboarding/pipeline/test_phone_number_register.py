"""Step 3, register the number with a PIN made once, within Meta's 10 calls per 72 hours."""

import json
from datetime import timedelta

import requests
from django.utils import timezone

from onboarding.models import Onboarding, PhoneNumber, RegistrationCall
from onboarding.services.phone_numbers import phone_number_register

from .conftest import (
    PHONE_ID,
    FakeMeta,
    Step,
    StepStatus,
    complete_steps_before,
    make_due,
    raw_column,
    run_step,
    step_of,
)

REGISTER = f"{PHONE_ID}/register"


def _run(onboarding: Onboarding) -> object:
    complete_steps_before(onboarding, Step.REGISTER_PHONE_NUMBER)
    return run_step(onboarding, Step.REGISTER_PHONE_NUMBER)


def _pins(meta: FakeMeta) -> list[str]:
    return [json.loads(c.request.body)["pin"] for c in meta.calls("POST", REGISTER)]


def _phone() -> PhoneNumber:
    return PhoneNumber.objects.get(phone_number_id=PHONE_ID)


def test_first_run_registers_with_a_new_six_digit_pin(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.register()
    step = _run(onboarding)
    assert step.status == StepStatus.SUCCEEDED  # type: ignore[attr-defined]
    (pin,) = _pins(meta)
    assert len(pin) == 6
    assert pin.isdigit()
    assert _phone().pin == pin
    assert _phone().registration == PhoneNumber.Registration.REGISTERED
    body = json.loads(meta.calls("POST", REGISTER)[0].request.body)
    assert body == {"messaging_product": "whatsapp", "pin": pin}


def test_the_pin_is_stored_encrypted(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.register()
    _run(onboarding)
    assert _phone().pin not in raw_column("onboarding_phonenumber", "pin")


def test_every_register_call_is_counted(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.register()
    _run(onboarding)
    (call,) = RegistrationCall.objects.all()
    assert (call.action, call.succeeded, call.error_code) == ("register", True, None)


def test_a_retry_sends_the_same_pin(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.fail("POST", REGISTER, 2, status=503, times=2)
    meta.register()
    step = _run(onboarding)
    for _ in range(2):
        make_due(step)  # type: ignore[arg-type]
        step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.SUCCEEDED  # type: ignore[attr-defined]
    pins = _pins(meta)
    assert len(pins) == 3
    assert len(set(pins)) == 1
    assert [c.succeeded for c in RegistrationCall.objects.order_by("id")] == [False, False, True]


def test_a_rerun_after_success_makes_no_graph_call(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.register()
    _run(onboarding)
    before = meta.count()
    run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    phone_number_register(step=step_of(onboarding, Step.REGISTER_PHONE_NUMBER), in_doubt=True)
    assert meta.count() == before


def test_a_pin_mismatch_fails_with_the_actionable_reason(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.fail("POST", REGISTER, 133005)
    step = _run(onboarding)
    assert step.status == StepStatus.FAILED  # type: ignore[attr-defined]
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED
    assert "already has a two-step verification PIN" in onboarding.failure_reason
    assert "turn it off in WhatsApp Manager" in onboarding.failure_reason
    assert "then retry" in onboarding.failure_reason
    assert _phone().registration == PhoneNumber.Registration.FAILED
    call = RegistrationCall.objects.get()
    assert (call.succeeded, call.error_code) == (False, 133005)


def test_at_meta_limit_it_waits_without_calling(meta: FakeMeta, onboarding: Onboarding) -> None:
    phone = _phone()
    now = timezone.now()
    for hours_ago in range(10):
        call = RegistrationCall.objects.create(phone_number=phone, action="register")
        RegistrationCall.objects.filter(pk=call.pk).update(
            created_at=now - timedelta(hours=hours_ago + 1)
        )
    step = _run(onboarding)
    assert step.status == StepStatus.WAITING  # type: ignore[attr-defined]
    assert meta.count() == 0
    expected = now - timedelta(hours=10) + timedelta(hours=72)
    assert abs((step.next_attempt_at - expected).total_seconds()) < 5  # type: ignore[attr-defined]
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.WAITING


def test_calls_older_than_72_hours_do_not_count(meta: FakeMeta, onboarding: Onboarding) -> None:
    phone = _phone()
    for _ in range(10):
        call = RegistrationCall.objects.create(phone_number=phone, action="deregister")
        RegistrationCall.objects.filter(pk=call.pk).update(
            created_at=timezone.now() - timedelta(hours=73)
        )
    meta.register()
    assert _run(onboarding).status == StepStatus.SUCCEEDED  # type: ignore[attr-defined]


def test_metas_register_limit_waits_72_hours(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.fail("POST", REGISTER, 133016)
    step = _run(onboarding)
    assert step.status == StepStatus.WAITING  # type: ignore[attr-defined]
    wait = step.next_attempt_at - timezone.now()  # type: ignore[attr-defined]
    assert timedelta(hours=71, minutes=59) < wait <= timedelta(hours=72)
    assert step.last_error_code == 133016  # type: ignore[attr-defined]
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.WAITING
    assert _phone().registration == PhoneNumber.Registration.PENDING


def test_in_doubt_a_connected_number_is_not_registered_again(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(f"https://graph.test/v26.0/{REGISTER}", body=requests.ReadTimeout())
    step = _run(onboarding)
    assert step.outcome_unknown  # type: ignore[attr-defined]
    assert RegistrationCall.objects.get().succeeded is None  # counted, outcome unknown
    meta.phone(status="CONNECTED")
    make_due(step)  # type: ignore[arg-type]
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.SUCCEEDED  # type: ignore[attr-defined]
    assert step.result["found_registered"] is True  # type: ignore[attr-defined]
    assert meta.count("POST", REGISTER) == 1
    assert _phone().registration == PhoneNumber.Registration.REGISTERED


def test_in_doubt_a_pending_number_is_registered_with_the_same_pin(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(f"https://graph.test/v26.0/{REGISTER}", body=requests.ReadTimeout())
    step = _run(onboarding)
    meta.phone(status="PENDING")
    meta.mock.replace("POST", f"https://graph.test/v26.0/{REGISTER}", json={"success": True})
    make_due(step)  # type: ignore[arg-type]
    assert run_step(onboarding, Step.REGISTER_PHONE_NUMBER).status == StepStatus.SUCCEEDED
    pins = _pins(meta)
    assert len(pins) == 2
    assert pins[0] == pins[1]


def test_an_expired_business_token_says_the_customer_must_sign_up_again(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.fail("POST", REGISTER, 190, status=401)
    _run(onboarding)
    onboarding.refresh_from_db()
    assert "complete the Embedded Signup again" in onboarding.failure_reason
