"""The whole pipeline over faked Meta: every step once, in order, to an active WABA."""

import json
from typing import Any

from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    PhoneNumber,
    TechProviderEvent,
    WhatsAppBusinessAccount,
)

from .conftest import (
    ALLOCATION,
    BUSINESS_TOKEN,
    CALLBACK,
    CREDIT_LINE,
    PHONE_ID,
    SYSTEM_TOKEN,
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    drive,
    make_onboarding,
)


def test_a_signup_goes_from_accepted_to_active(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.everything()
    drive(onboarding)

    assert onboarding.status == Onboarding.Status.ACTIVE
    assert onboarding.completed_at is not None
    waba = WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)
    assert waba.status == WhatsAppBusinessAccount.Status.ACTIVE
    assert waba.allocation_config_id == ALLOCATION
    assert waba.webhooks_subscribed_at is not None
    assert len(waba.webhook_verify_token) == 40
    phone = PhoneNumber.objects.get(phone_number_id=PHONE_ID)
    assert phone.registration == PhoneNumber.Registration.REGISTERED
    assert phone.display_phone_number == "+1 555-0100"
    assert [s.status for s in onboarding.steps.order_by("position")] == [StepStatus.SUCCEEDED] * 5
    assert [s.attempts for s in onboarding.steps.order_by("position")] == [1] * 5


def test_each_call_is_made_once_in_meta_order_with_the_right_token(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.everything()
    drive(onboarding)

    made = [
        (c.request.method, c.request.url.split("?")[0].split("/v26.0/")[1]) for c in meta.calls()
    ]
    assert made == [
        ("POST", f"{WABA_ID}/subscribed_apps"),
        ("POST", f"{WABA_ID}/subscribed_apps"),
        ("GET", f"{WABA_ID}/subscribed_apps"),
        ("POST", f"{CREDIT_LINE}/whatsapp_credit_sharing_and_attach"),
        ("GET", ALLOCATION),
        ("GET", WABA_ID),
        ("POST", f"{PHONE_ID}/register"),
        ("GET", PHONE_ID),
    ]
    tokens = [c.request.headers["Authorization"].split(" ")[1] for c in meta.calls()]
    assert tokens == [BUSINESS_TOKEN] * 3 + [SYSTEM_TOKEN] * 2 + [BUSINESS_TOKEN] * 3


def test_without_a_business_token_the_system_user_token_is_used(
    meta: FakeMeta, account: Any
) -> None:
    meta.everything()
    drive(make_onboarding(account, business_token=""))
    tokens = {c.request.headers["Authorization"] for c in meta.calls()}
    assert tokens == {f"Bearer {SYSTEM_TOKEN}"}


def test_the_override_is_set_after_the_subscription_with_the_waba_token(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.everything()
    drive(onboarding)
    first, second = meta.calls("POST", f"{WABA_ID}/subscribed_apps")
    assert first.request.body is None
    waba = WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)
    assert json.loads(second.request.body) == {
        "override_callback_uri": CALLBACK,
        "verify_token": waba.webhook_verify_token,
    }


def test_the_tech_provider_is_told_once(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.everything()
    drive(onboarding)
    (event,) = TechProviderEvent.objects.all()
    assert event.event_type == "waba.active"
    assert event.tech_provider == onboarding.waba.tech_provider
    assert event.payload["waba_id"] == WABA_ID
    assert event.payload["phone_numbers"][0]["display_phone_number"] == "+1 555-0100"
    assert event.event_id.startswith("evt_")


def test_every_transition_is_audited(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.everything()
    drive(onboarding)
    moves = [(e.step, e.from_status, e.to_status) for e in OnboardingEvent.objects.order_by("id")]
    assert moves[0] == ("", "", "pending")
    assert ("", "pending", "running") in moves
    for name in Step.values:
        assert (name, "pending", "running") in moves
        assert (name, "running", "succeeded") in moves
    assert moves[-1] == ("", "running", "active")


def test_a_coexistence_signup_skips_registration_and_says_why(meta: FakeMeta, account: Any) -> None:
    meta.subscribe()
    meta.credit()
    meta.phone()
    onboarding = drive(
        make_onboarding(
            account,
            signup_event=WhatsAppBusinessAccount.SignupEvent.FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING,
        )
    )
    assert onboarding.status == Onboarding.Status.ACTIVE
    register = onboarding.steps.get(name=Step.REGISTER_PHONE_NUMBER)
    assert register.status == StepStatus.SKIPPED
    assert "Coexistence" in register.note
    assert meta.count("POST", f"{PHONE_ID}/register") == 0


def test_a_signup_without_a_number_skips_the_number_steps(meta: FakeMeta, account: Any) -> None:
    meta.subscribe()
    meta.credit()
    onboarding = drive(
        make_onboarding(
            account,
            phone_number_id=None,
            signup_event=WhatsAppBusinessAccount.SignupEvent.FINISH_ONLY_WABA,
        )
    )
    assert onboarding.status == Onboarding.Status.ACTIVE
    skipped = onboarding.steps.filter(status=StepStatus.SKIPPED).values_list("name", flat=True)
    assert set(skipped) == {Step.REGISTER_PHONE_NUMBER, Step.FETCH_PHONE_NUMBER}
    assert meta.count("GET", PHONE_ID) == 0
