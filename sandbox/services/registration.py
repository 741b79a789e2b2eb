"""Registering and deregistering numbers: two-step PINs and Meta's 10-per-72-hours limit."""

import re
from datetime import timedelta

from django.db import transaction

from sandbox import clock, ids
from sandbox.graph.errors import GraphError, invalid_parameter
from sandbox.models import SandboxPhoneNumber, SandboxRegistrationCall

LIMIT = 10
WINDOW = timedelta(hours=72)
REGIONS = ("AU", "ID", "IN", "JP", "SG", "KR", "DE", "CH", "GB", "BR", "BH", "ZA", "AE", "CA")
_PIN = re.compile(r"^[0-9]{6}$")


def pin_digest(phone: SandboxPhoneNumber, pin: str) -> str:
    return ids.digest(f"{phone.phone_number_id}:{pin}")


def phone_number_register(*, phone: SandboxPhoneNumber, pin: str, region: str = "") -> None:
    """Register for Cloud API. A number without a two-step PIN takes this one; a number with
    one accepts only it (133005 otherwise). The 11th call in 72 hours gets 133016."""
    if not _PIN.match(pin):
        raise invalid_parameter("Param pin must be 6 characters long and contain only digits")
    if region and region not in REGIONS:
        raise invalid_parameter(f"Param data_localization_region must be one of {REGIONS}")
    call = _count_call(phone, "register")
    if phone.register_error_code:
        _fail(call, phone.register_error_code)
    if phone.pin_hash and phone.pin_hash != pin_digest(phone, pin):
        _fail(call, 133005)
    with transaction.atomic():
        phone.pin_hash = phone.pin_hash or pin_digest(phone, pin)
        phone.is_registered = True
        phone.status = "CONNECTED"
        phone.platform_type = "CLOUD_API"
        phone.data_localization_region = region
        phone.last_onboarded_time = clock.now()
        phone.save()


def phone_number_deregister(*, phone: SandboxPhoneNumber) -> None:
    """Deregister: no longer usable for Cloud API; history and the two-step PIN remain."""
    if phone.is_coexistence:
        raise invalid_parameter(
            "Deregistration is not supported for phone numbers that are also used with the "
            "WhatsApp Business app"
        )
    _count_call(phone, "deregister")
    phone.is_registered = False
    phone.status = "DISCONNECTED"
    phone.data_localization_region = ""
    phone.save(update_fields=["is_registered", "status", "data_localization_region", "updated_at"])


def _count_call(phone: SandboxPhoneNumber, action: str) -> SandboxRegistrationCall:
    """Count this request, or refuse it with 133016 when 10 were made in the last 72 hours
    (refused requests are not counted; the block lifts as the window moves)."""
    now = clock.now()
    with transaction.atomic():
        SandboxPhoneNumber.objects.select_for_update().filter(pk=phone.pk).first()
        recent = SandboxRegistrationCall.objects.filter(
            phone_number=phone, created_at__gt=now - WINDOW
        ).count()
        if recent >= LIMIT:
            raise GraphError(133016)
        return SandboxRegistrationCall.objects.create(
            phone_number=phone, action=action, created_at=now
        )


def _fail(call: SandboxRegistrationCall, code: int) -> None:
    call.error_code = code
    call.save(update_fields=["error_code"])
    raise GraphError(code)
