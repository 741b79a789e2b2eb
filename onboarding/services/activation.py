"""The last step: mark the WABA active and record the event that tells its Tech Provider."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from onboarding.models import OnboardingStep, WhatsAppBusinessAccount
from onboarding.services.notifications import tech_provider_event_record
from onboarding.services.outcomes import StepOutcome

WABA_ACTIVE = "waba.active"


def waba_event_payload(waba: WhatsAppBusinessAccount) -> dict[str, Any]:
    """What a Tech Provider is told about a WABA (no secrets)."""
    return {
        "waba_id": waba.waba_id,
        "business_id": waba.business_id,
        "reference": waba.reference,
        "status": waba.status,
        "phone_numbers": [
            {
                "phone_number_id": phone.phone_number_id,
                "display_phone_number": phone.display_phone_number,
                "verified_name": phone.verified_name,
                "registration": phone.registration,
                "quality_rating": phone.quality_rating,
            }
            for phone in waba.phone_numbers.order_by("id")
        ],
    }


@transaction.atomic
def waba_activate(*, step: OnboardingStep, in_doubt: bool) -> StepOutcome:
    """Mark the WABA active and record `waba.active` for its Tech Provider, once."""
    waba = WhatsAppBusinessAccount.objects.select_for_update().get(pk=step.onboarding.waba_id)
    if waba.status == WhatsAppBusinessAccount.Status.ACTIVE and waba.activated_at:
        return StepOutcome(result={"activated_at": waba.activated_at.isoformat()})
    waba.status = WhatsAppBusinessAccount.Status.ACTIVE
    waba.activated_at = timezone.now()
    waba.save(update_fields=["status", "activated_at", "updated_at"])
    payload = {**waba_event_payload(waba), "activated_at": waba.activated_at.isoformat()}
    tech_provider_event_record(
        tech_provider=waba.tech_provider, waba=waba, event_type=WABA_ACTIVE, payload=payload
    )
    return StepOutcome(result={"activated_at": waba.activated_at.isoformat()})
