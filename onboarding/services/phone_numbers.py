"""A WABA's phone number on the Cloud API: register it with its own PIN, read its details.

The PIN is made once per number, stored encrypted and sent again on every retry: Meta makes the
first PIN sent the number's two-step PIN, and a different one later fails with 133005. Every
register call is counted in RegistrationCall before it is made, so that we never pass Meta's 10
register/deregister calls per number in 72 hours (the 11th blocks the number for 72 hours).
"""

import secrets
from datetime import timedelta

from django.db.models import Min
from django.utils import timezone

from onboarding.graph import GraphError
from onboarding.graph.types import PhoneNumberInfo
from onboarding.models import OnboardingStep, PhoneNumber, RegistrationCall
from onboarding.services.faults import crash_point
from onboarding.services.meta import graph_client_for_waba
from onboarding.services.outcomes import StepOutcome, StepWait

REGISTER_LIMIT = 10
REGISTER_WINDOW = timedelta(hours=72)
REGISTERED_STATUS = "CONNECTED"  # the number's `status` once registered on the Cloud API
NO_NUMBER = "The signup shared no phone number with this WABA: there is nothing to register."


def _phone_number(step: OnboardingStep) -> PhoneNumber | None:
    return step.onboarding.waba.phone_numbers.order_by("id").first()


def phone_number_pin(phone: PhoneNumber) -> str:
    """The number's 6-digit two-step PIN: made once, stored encrypted, reused ever after."""
    if not phone.pin:
        phone.pin = f"{secrets.randbelow(10**6):06d}"
        phone.save(update_fields=["pin", "updated_at"])
    return phone.pin


def _assert_under_register_limit(phone: PhoneNumber) -> None:
    since = timezone.now() - REGISTER_WINDOW
    recent = RegistrationCall.objects.filter(phone_number=phone, created_at__gt=since)
    stats = recent.aggregate(oldest=Min("created_at"))
    if recent.count() >= REGISTER_LIMIT:
        until = stats["oldest"] + REGISTER_WINDOW
        raise StepWait(
            f"{REGISTER_LIMIT} register/deregister calls were made for this number in the last "
            f"72 hours, Meta's limit: the step resumes at {until:%Y-%m-%d %H:%M} UTC.",
            until=until,
        )


def _mark_registered(phone: PhoneNumber) -> None:
    phone.registration = PhoneNumber.Registration.REGISTERED
    phone.save(update_fields=["registration", "updated_at"])


def _register(phone: PhoneNumber, step: OnboardingStep) -> None:
    pin = phone_number_pin(phone)
    call = RegistrationCall.objects.create(
        phone_number=phone, action=RegistrationCall.Action.REGISTER
    )
    client = graph_client_for_waba(step.onboarding.waba)
    try:
        client.register_phone_number(phone.phone_number_id, pin=pin)
    except GraphError as error:
        if not error.outcome_unknown:
            call.succeeded = False
            call.error_code = error.code
            call.save(update_fields=["succeeded", "error_code"])
        if not (error.retryable or error.wait_long):
            phone.registration = PhoneNumber.Registration.FAILED
            phone.save(update_fields=["registration", "updated_at"])
        raise
    crash_point(OnboardingStep.Name.REGISTER_PHONE_NUMBER)
    call.succeeded = True
    call.save(update_fields=["succeeded"])
    _mark_registered(phone)


def phone_number_register(*, step: OnboardingStep, in_doubt: bool) -> StepOutcome:
    """Register the WABA's number, unless it is registered already (ours or Meta's word)."""
    phone = _phone_number(step)
    if phone is None:
        return StepOutcome(skipped=True, note=NO_NUMBER)
    result = {"phone_number_id": phone.phone_number_id}
    if phone.registration == PhoneNumber.Registration.REGISTERED:
        return StepOutcome(result=result)
    if in_doubt:
        client = graph_client_for_waba(step.onboarding.waba)
        info = client.get_phone_number(phone.phone_number_id, fields=["status"])
        if info.status == REGISTERED_STATUS:
            _mark_registered(phone)
            return StepOutcome(result={**result, "found_registered": True})
    _assert_under_register_limit(phone)
    _register(phone, step)
    return StepOutcome(result=result)


def _store_details(phone: PhoneNumber, info: PhoneNumberInfo) -> None:
    phone.display_phone_number = info.display_phone_number
    phone.verified_name = info.verified_name
    phone.meta_status = info.status
    phone.quality_rating = info.quality_rating
    phone.code_verification_status = info.code_verification_status
    phone.name_status = info.name_status
    phone.throughput_level = info.throughput_level
    phone.messaging_limit_tier = info.messaging_limit_tier
    phone.details_refreshed_at = timezone.now()
    phone.save()


def phone_number_fetch(*, step: OnboardingStep, in_doubt: bool) -> StepOutcome:
    """Read the number's details back from Meta and store them."""
    phone = _phone_number(step)
    if phone is None:
        return StepOutcome(skipped=True, note=NO_NUMBER)
    if step.result.get("details_refreshed_at") and phone.details_refreshed_at:
        return StepOutcome(result=step.result)
    info = graph_client_for_waba(step.onboarding.waba).get_phone_number(phone.phone_number_id)
    crash_point(OnboardingStep.Name.FETCH_PHONE_NUMBER)
    _store_details(phone, info)
    return StepOutcome(
        result={
            "phone_number_id": phone.phone_number_id,
            "status": info.status,
            "details_refreshed_at": phone.details_refreshed_at.isoformat()
            if phone.details_refreshed_at
            else "",
        }
    )
