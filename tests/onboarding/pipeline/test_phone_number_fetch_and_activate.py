"""Steps 4 and 5: read the number's details back, then mark the WABA active once."""

from onboarding.models import (
    Onboarding,
    PhoneNumber,
    TechProviderEvent,
    WhatsAppBusinessAccount,
)
from onboarding.services.activation import waba_activate
from onboarding.services.phone_numbers import phone_number_fetch

from .conftest import (
    PHONE_ID,
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    complete_steps_before,
    run_step,
    step_of,
)


def test_fetch_stores_the_numbers_details(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.phone()
    complete_steps_before(onboarding, Step.FETCH_PHONE_NUMBER)
    step = run_step(onboarding, Step.FETCH_PHONE_NUMBER)
    assert step.status == StepStatus.SUCCEEDED
    phone = PhoneNumber.objects.get(phone_number_id=PHONE_ID)
    assert (phone.display_phone_number, phone.verified_name) == ("+1 555-0100", "Acme Shoes")
    assert (phone.quality_rating, phone.meta_status, phone.name_status) == (
        "GREEN",
        "CONNECTED",
        "APPROVED",
    )
    assert (phone.throughput_level, phone.messaging_limit_tier) == ("STANDARD", "TIER_1K")
    assert phone.code_verification_status == "VERIFIED"
    assert phone.details_refreshed_at is not None


def test_fetch_rerun_after_success_makes_no_graph_call(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.phone()
    complete_steps_before(onboarding, Step.FETCH_PHONE_NUMBER)
    run_step(onboarding, Step.FETCH_PHONE_NUMBER)
    run_step(onboarding, Step.FETCH_PHONE_NUMBER)
    phone_number_fetch(step=step_of(onboarding, Step.FETCH_PHONE_NUMBER), in_doubt=True)
    assert meta.count() == 1


def test_fetch_retries_a_transient_error(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.fail("GET", PHONE_ID, 131016, status=503)
    complete_steps_before(onboarding, Step.FETCH_PHONE_NUMBER)
    step = run_step(onboarding, Step.FETCH_PHONE_NUMBER)
    assert (step.status, step.last_error_code) == (StepStatus.WAITING, 131016)


def test_fetch_fails_on_a_permission_error(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.fail("GET", PHONE_ID, 10, status=403)
    complete_steps_before(onboarding, Step.FETCH_PHONE_NUMBER)
    step = run_step(onboarding, Step.FETCH_PHONE_NUMBER)
    assert step.status == StepStatus.FAILED
    assert "lack of permission" in step.note


def test_activate_marks_the_waba_active_and_records_one_event(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    complete_steps_before(onboarding, Step.ACTIVATE)
    step = run_step(onboarding, Step.ACTIVATE)
    assert step.status == StepStatus.SUCCEEDED
    waba = WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)
    assert waba.status == WhatsAppBusinessAccount.Status.ACTIVE
    assert waba.activated_at is not None
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.ACTIVE
    assert TechProviderEvent.objects.filter(event_type="waba.active").count() == 1
    assert meta.count() == 0


def test_activate_run_twice_records_the_event_once(onboarding: Onboarding) -> None:
    step = step_of(onboarding, Step.ACTIVATE)
    first = waba_activate(step=step, in_doubt=False)
    second = waba_activate(step=step, in_doubt=True)
    assert first.result == second.result
    assert TechProviderEvent.objects.count() == 1
