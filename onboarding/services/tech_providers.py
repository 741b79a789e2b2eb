"""Tech Provider accounts: creation, token rotation and access rules."""

import base64
import secrets
import string
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from onboarding import crypto
from onboarding.errors import AccountForbidden, platform_name
from onboarding.models import TechProvider

_AUTH_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class IssuedCredentials:
    """What is shown once, at creation or rotation, and never again."""

    tech_provider: TechProvider
    auth_token: str


def _new_auth_id() -> str:
    return "MA" + crypto.random_token(18, _AUTH_ID_ALPHABET)


def webhook_secret_new() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@transaction.atomic
def tech_provider_create(
    *,
    name: str,
    whatsapp_enabled: bool = True,
    tech_provider_permission: bool = True,
    mps_status: str = TechProvider.MpsStatus.ACTIVE,
    meta_app_id: str = "",
    meta_config_id: str = "",
    meta_app_secret: str = "",
    webhook_url: str = "",
) -> IssuedCredentials:
    token = crypto.random_token(40)
    tech_provider = TechProvider.objects.create(
        name=name,
        auth_id=_new_auth_id(),
        auth_token_hash=crypto.token_hash(token),
        whatsapp_enabled=whatsapp_enabled,
        tech_provider_permission=tech_provider_permission,
        mps_status=mps_status,
        meta_app_id=meta_app_id,
        meta_config_id=meta_config_id,
        meta_app_secret=meta_app_secret,
        public_id=secrets.token_urlsafe(16),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret_new(),
    )
    return IssuedCredentials(tech_provider, token)


@transaction.atomic
def tech_provider_rotate_token(*, tech_provider: TechProvider) -> IssuedCredentials:
    """Issue a new auth token; the old one stops working at once."""
    token = crypto.random_token(40)
    tech_provider.auth_token_hash = crypto.token_hash(token)
    tech_provider.auth_token_rotated_at = timezone.now()
    tech_provider.save(update_fields=["auth_token_hash", "auth_token_rotated_at", "updated_at"])
    return IssuedCredentials(tech_provider, token)


def tech_provider_assert_can_onboard(tech_provider: TechProvider) -> None:
    """The two 403s of the EmbeddedSignup API, WhatsApp first."""
    if not tech_provider.whatsapp_enabled:
        raise AccountForbidden(
            f"WhatsApp is not enabled for your account. Contact {platform_name()} support."
        )
    if not tech_provider.tech_provider_permission:
        raise AccountForbidden(
            "Your account does not have Tech Provider permission. "
            f"Contact {platform_name()} support."
        )
