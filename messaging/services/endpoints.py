"""A Tech Provider's callback endpoint: its URL and signing secret, its health, and disabling it.

The URL and secrets live on onboarding's TechProvider (the fields onboarding reserves for us);
health lives in messaging.EndpointHealth. An endpoint is disabled at once on HTTP 410, and when
it has failed without a single success for WEBHOOK_DISABLE_AFTER_S (5 days); the Tech Provider
then finds `disabled_at` and the reason on the Webhook API and an `endpoint.disabled` delivery in
its delivery list, and setting the URL again re-enables it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from messaging import signing, ssrf
from messaging.models import Delivery, EndpointHealth
from onboarding.errors import InvalidRequest
from onboarding.models import TechProvider
from onboarding.services.tech_providers import webhook_secret_new

logger = logging.getLogger(__name__)

ENDPOINT_DISABLED = "endpoint.disabled"
_SUCCESS_WRITE_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class RotatedSecret:
    secret: str  # shown once
    previous_expires_at: datetime | None


def signing_secrets(tech_provider: TechProvider, now: datetime) -> list[str]:
    """The secrets to sign with: the current one, and the previous one during its grace period."""
    found = [tech_provider.webhook_secret] if tech_provider.webhook_secret else []
    expires = tech_provider.webhook_secret_previous_expires_at
    if tech_provider.webhook_secret_previous and expires and expires > now:
        found.append(tech_provider.webhook_secret_previous)
    return found


@transaction.atomic
def webhook_url_set(*, tech_provider: TechProvider, url: str) -> TechProvider:
    """Set (or with "" remove) the callback URL; checked by the SSRF guard; re-enables it."""
    url = url.strip()
    if url:
        try:
            ssrf.callback_url_check(url)
        except ssrf.UrlRefused as refused:
            raise InvalidRequest(f"url is not allowed: {refused.message}") from None
    tech_provider.webhook_url = url
    tech_provider.webhook_disabled_at = None
    tech_provider.webhook_disabled_reason = ""
    if not tech_provider.webhook_secret:
        tech_provider.webhook_secret = webhook_secret_new()
    tech_provider.save(
        update_fields=[
            "webhook_url",
            "webhook_disabled_at",
            "webhook_disabled_reason",
            "webhook_secret",
            "updated_at",
        ]
    )
    EndpointHealth.objects.filter(tech_provider=tech_provider).update(
        failing_since=None, consecutive_failures=0
    )
    return tech_provider


@transaction.atomic
def webhook_secret_rotate(
    *, tech_provider: TechProvider, secret: str | None = None, grace_s: int | None = None
) -> RotatedSecret:
    """Start signing with a new secret (given or generated); the old one also signs for a while."""
    if secret is None:
        secret = webhook_secret_new()
    elif not secret.startswith(signing.SECRET_PREFIX):
        raise InvalidRequest("secret must start with whsec_.")
    else:
        try:
            signing.secret_key(secret)
        except ValueError as error:
            message = f"secret must be whsec_ and base64 of 24 to 64 bytes ({error})."
            raise InvalidRequest(message) from None
    grace = settings.WEBHOOK_SECRET_GRACE_S if grace_s is None else grace_s
    now = timezone.now()
    previous_expires_at = now + timedelta(seconds=grace) if grace > 0 else None
    tech_provider.webhook_secret_previous = tech_provider.webhook_secret if grace > 0 else ""
    tech_provider.webhook_secret_previous_expires_at = previous_expires_at
    tech_provider.webhook_secret = secret
    tech_provider.save(
        update_fields=[
            "webhook_secret",
            "webhook_secret_previous",
            "webhook_secret_previous_expires_at",
            "updated_at",
        ]
    )
    return RotatedSecret(secret, previous_expires_at)


def endpoint_health_record(
    *,
    tech_provider_id: int,
    last_success_at: datetime | None,
    first_failure_after_success: datetime | None,
    failures: int,
    now: datetime,
) -> None:
    """Fold one batch of attempt results into the endpoint's health; disable it when due.

    A healthy endpoint's row is written at most every 30 s, so busy pumps do not queue on it.
    """
    health = EndpointHealth.objects.filter(tech_provider_id=tech_provider_id)
    if not health.exists():
        EndpointHealth.objects.get_or_create(tech_provider_id=tech_provider_id)
    if last_success_at is not None:
        changed = (
            Q(failing_since__isnull=False)
            | Q(consecutive_failures__gt=0)
            | Q(last_success_at__isnull=True)
            | Q(last_success_at__lt=last_success_at - _SUCCESS_WRITE_EVERY)
        )
        health.filter(changed).update(
            failing_since=first_failure_after_success,
            last_success_at=last_success_at,
            consecutive_failures=0,
        )
    if first_failure_after_success is not None or (last_success_at is None and failures):
        since = first_failure_after_success or now
        health.update(
            failing_since=Coalesce(F("failing_since"), since),
            last_failure_at=now,
            consecutive_failures=F("consecutive_failures") + failures,
        )
        limit = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_S)
        if health.filter(failing_since__lte=limit).exists():
            endpoint_disable(tech_provider_id=tech_provider_id, reason=silence_reason(), now=now)


def silence_reason() -> str:
    days = settings.WEBHOOK_DISABLE_AFTER_S / 86400
    return f"no successful delivery for {days:g} days"


def endpoint_disable(*, tech_provider_id: int, reason: str, now: datetime) -> bool:
    """Disable the endpoint (once), stop its pending deliveries, and tell the Tech Provider."""
    from messaging.services.deliveries import tech_provider_event_deliver

    with transaction.atomic():
        changed = TechProvider.objects.filter(
            pk=tech_provider_id, webhook_disabled_at__isnull=True
        ).update(webhook_disabled_at=now, webhook_disabled_reason=reason[:200], updated_at=now)
        if not changed:
            return False
        Delivery.objects.filter(
            tech_provider_id=tech_provider_id, state=Delivery.State.PENDING
        ).update(
            state=Delivery.State.FAILED,
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
            last_error=f"The callback URL was disabled ({reason}).",
            # Dropping the lease means a result still in flight cannot make it pending again.
            lease_owner="",
            lease_expires_at=None,
        )
        tech_provider = TechProvider.objects.get(pk=tech_provider_id)
        tech_provider_event_deliver(
            tech_provider=tech_provider,
            event_type=ENDPOINT_DISABLED,
            data={
                "reason": reason,
                "disabled_at": now.isoformat(),
                "url": tech_provider.webhook_url,
            },
            key=f"endpoint-disabled:{now.isoformat()}",
        )
    logger.warning("callback URL of tech provider %s disabled: %s", tech_provider_id, reason)
    return True
