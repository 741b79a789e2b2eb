"""Operations only the control API, the management command and the admin perform."""

from django.db import transaction

from sandbox import models
from sandbox.models import SandboxPhoneNumber

PHONE_FIELDS = {
    "quality_rating": ("GREEN", "YELLOW", "RED", "UNKNOWN"),
    "status": ("PENDING", "CONNECTED", "DISCONNECTED", "FLAGGED", "RESTRICTED", "BANNED"),
    "name_status": (
        "APPROVED",
        "AVAILABLE_WITHOUT_REVIEW",
        "DECLINED",
        "EXPIRED",
        "PENDING_REVIEW",
        "NONE",
    ),
    "code_verification_status": ("VERIFIED", "NOT_VERIFIED", "EXPIRED"),
    "throughput_level": ("STANDARD", "HIGH", "NOT_APPLICABLE"),
    "messaging_limit_tier": (
        "TIER_50",
        "TIER_250",
        "TIER_2K",
        "TIER_10K",
        "TIER_100K",
        "TIER_UNLIMITED",
    ),
}


@transaction.atomic
def phone_number_update(
    *,
    phone: SandboxPhoneNumber,
    throughput_mps: int | None = None,
    register_error_code: int | None = None,
    clear_pin: bool = False,
    **choices: str,
) -> SandboxPhoneNumber:
    """Change what Meta reports about a number, its magic registration error, or turn its
    two-step PIN off (what the customer does in WhatsApp Manager after a 133005)."""
    for name, value in choices.items():
        allowed = PHONE_FIELDS.get(name)
        if allowed is None:
            raise ValueError(f"unknown phone number field {name}")
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        setattr(phone, name, value)
    if throughput_mps is not None:
        if throughput_mps < 1:
            raise ValueError("throughput_mps must be at least 1")
        phone.throughput_mps = throughput_mps
    if register_error_code is not None:
        phone.register_error_code = register_error_code
    if clear_pin:
        phone.pin_hash = ""
    phone.save()
    return phone


@transaction.atomic
def sandbox_reset() -> None:
    """Forget every simulated object, call, fault and webhook (the partner app is re-created
    on the next call)."""
    for model in (
        models.SandboxCall,
        models.SandboxWebhook,
        models.SandboxFault,
        models.SandboxMessage,
        models.SandboxMedia,
        models.SandboxWindow,
        models.SandboxTemplate,
        models.SandboxCreditAllocation,
        models.SandboxRegistrationCall,
        models.SandboxPhoneNumber,
        models.SandboxSubscription,
        models.SandboxWabaShare,
        models.SandboxAuthCode,
        models.SandboxToken,
        models.SandboxWaba,
        models.SandboxCreditLine,
        models.SandboxApp,
        models.SandboxBusiness,
        models.SandboxConfig,
    ):
        model.objects.all().delete()
