"""Accepting an Embedded Signup: record the WABA and number, create the onboarding, enqueue it.

The one service behind both the REST EmbeddedSignup API and the hosted Connect page.
"""

from datetime import datetime

from django.db import IntegrityError, transaction

from onboarding.errors import MpsInactive, PhoneNumberTaken, WabaAlreadyRegistered, platform_name
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    PhoneNumber,
    TechProvider,
    WhatsAppBusinessAccount,
)
from onboarding.services.tech_providers import tech_provider_assert_can_onboard
from onboarding.signup_input import SignupInput

Step = OnboardingStep.Name
Event = WhatsAppBusinessAccount.SignupEvent
_STEP_ORDER = [
    Step.SUBSCRIBE_WEBHOOKS,
    Step.SHARE_CREDIT_LINE,
    Step.REGISTER_PHONE_NUMBER,
    Step.FETCH_PHONE_NUMBER,
    Step.ACTIVATE,
]
_SKIPS = {
    (Event.FINISH_ONLY_WABA, Step.REGISTER_PHONE_NUMBER): (
        "The signup finished without a phone number (FINISH_ONLY_WABA): there is nothing to "
        "register. Add a number to the WABA, then onboard it."
    ),
    (Event.FINISH_ONLY_WABA, Step.FETCH_PHONE_NUMBER): (
        "The signup finished without a phone number (FINISH_ONLY_WABA)."
    ),
    (Event.FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING, Step.REGISTER_PHONE_NUMBER): (
        "Coexistence signup: the number stays registered to the WhatsApp Business app, so it "
        "must not be registered again on the Cloud API."
    ),
}


def _already_registered() -> WabaAlreadyRegistered:
    return WabaAlreadyRegistered(f"This WABA is already registered with {platform_name()}.")


def _number_taken() -> PhoneNumberTaken:
    return PhoneNumberTaken("This phone number is already registered under another WABA.")


def _check_conflicts(signup: SignupInput) -> WhatsAppBusinessAccount | None:
    """Raise on a WABA or number we already hold; return an offboarded WABA to re-onboard."""
    existing = (
        WhatsAppBusinessAccount.objects.select_for_update().filter(waba_id=signup.waba_id).first()
    )
    if existing is not None and existing.status != WhatsAppBusinessAccount.Status.OFFBOARDED:
        raise _already_registered()
    if signup.phone_number_id:
        taken = PhoneNumber.objects.filter(phone_number_id=signup.phone_number_id).exclude(
            waba__waba_id=signup.waba_id
        )
        if taken.exists():
            raise _number_taken()
    return existing


def _save_waba(
    waba: WhatsAppBusinessAccount | None,
    *,
    tech_provider: TechProvider,
    signup: SignupInput,
    signup_event: str,
    business_token: str,
    business_token_expires_at: datetime | None,
) -> WhatsAppBusinessAccount:
    waba = waba or WhatsAppBusinessAccount(waba_id=signup.waba_id)
    waba.tech_provider = tech_provider
    waba.business_id = signup.business_id
    waba.reference = signup.reference
    waba.status = WhatsAppBusinessAccount.Status.ONBOARDING
    waba.signup_event = signup_event
    waba.business_token = business_token
    waba.business_token_expires_at = business_token_expires_at
    waba.currency = tech_provider.default_currency
    waba.allocation_config_id = ""
    waba.offboarded_at = None
    waba.save()
    return waba


def _save_phone_number(waba: WhatsAppBusinessAccount, signup: SignupInput) -> None:
    if not signup.phone_number_id:
        return
    PhoneNumber.objects.update_or_create(
        phone_number_id=signup.phone_number_id,
        defaults={
            "waba": waba,
            "registration": PhoneNumber.Registration.PENDING,
            "is_coexistence": waba.signup_event == Event.FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING,
        },
    )


def _create_onboarding(waba: WhatsAppBusinessAccount, *, actor: str) -> Onboarding:
    onboarding, created = Onboarding.objects.update_or_create(
        waba=waba, defaults={"status": Onboarding.Status.PENDING, "failure_reason": ""}
    )
    onboarding.steps.all().delete()
    OnboardingStep.objects.bulk_create(
        [
            _new_step(onboarding, position, name, waba.signup_event)
            for position, name in enumerate(_STEP_ORDER, start=1)
        ]
    )
    OnboardingEvent.objects.create(
        onboarding=onboarding,
        to_status=Onboarding.Status.PENDING,
        reason="Embedded Signup accepted" if created else "Re-onboarding an offboarded WABA",
        detail={"waba_id": waba.waba_id, "signup_event": waba.signup_event},
        actor=actor,
    )
    return onboarding


def _new_step(onboarding: Onboarding, position: int, name: str, event: str) -> OnboardingStep:
    skip = _SKIPS.get((Event(event), Step(name)))
    return OnboardingStep(
        onboarding=onboarding,
        name=name,
        position=position,
        status=OnboardingStep.Status.SKIPPED if skip else OnboardingStep.Status.PENDING,
        note=skip or "",
    )


def _enqueue(onboarding_id: int) -> None:
    from onboarding import tasks  # tasks import services; import here to keep the cycle out

    transaction.on_commit(lambda: tasks.onboarding_advance.delay(onboarding_id))


@transaction.atomic
def embedded_signup_submit(
    *,
    tech_provider: TechProvider,
    signup: SignupInput,
    signup_event: str = Event.FINISH,
    business_token: str = "",
    business_token_expires_at: datetime | None = None,
    actor: str = "api",
) -> Onboarding:
    """Record the WABA and its number and start its onboarding; errors as the seed's table."""
    tech_provider_assert_can_onboard(tech_provider)
    if tech_provider.mps_status != TechProvider.MpsStatus.ACTIVE:
        raise MpsInactive(
            f"Multi-Partner Solution is not active for your app. Contact {platform_name()} support."
        )
    try:
        with transaction.atomic():
            waba = _save_waba(
                _check_conflicts(signup),
                tech_provider=tech_provider,
                signup=signup,
                signup_event=signup_event,
                business_token=business_token,
                business_token_expires_at=business_token_expires_at,
            )
            _save_phone_number(waba, signup)
    except IntegrityError:  # a concurrent submission of the same WABA or number won the race
        exists = WhatsAppBusinessAccount.objects.filter(waba_id=signup.waba_id).exists()
        raise (_already_registered() if exists else _number_taken()) from None
    onboarding = _create_onboarding(waba, actor=actor)
    _enqueue(onboarding.id)
    return onboarding
