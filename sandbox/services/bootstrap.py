"""The partner side every simulation starts from: the default app, its business, credit line,
system user token and the runtime configuration row (created on first use, idempotently)."""

from django.conf import settings
from django.db import IntegrityError, transaction

from sandbox import clock, ids
from sandbox.models import (
    SandboxApp,
    SandboxBusiness,
    SandboxConfig,
    SandboxCreditLine,
    SandboxToken,
)


def sandbox_bootstrap() -> SandboxApp:
    """Return the default app, creating the partner's objects the first time."""
    app = SandboxApp.objects.select_related("business").filter(app_id=settings.SANDBOX_APP_ID)
    found = app.first()
    if found is not None:
        return found
    try:
        return _create_partner()
    except IntegrityError:  # another thread bootstrapped first
        return SandboxApp.objects.get(app_id=settings.SANDBOX_APP_ID)


@transaction.atomic
def _create_partner() -> SandboxApp:
    business, _ = SandboxBusiness.objects.get_or_create(
        business_id=settings.SANDBOX_PARTNER_BUSINESS_ID,
        defaults={"name": f"{settings.PLATFORM_NAME} (partner)", "is_partner": True},
    )
    app = SandboxApp.objects.create(
        app_id=settings.SANDBOX_APP_ID,
        name=settings.SANDBOX_APP_NAME,
        secret=settings.SANDBOX_APP_SECRET,
        business=business,
    )
    SandboxCreditLine.objects.get_or_create(
        credit_line_id=settings.SANDBOX_CREDIT_LINE_ID,
        defaults={"business": business, "legal_entity_name": business.name},
    )
    system_user_token_create(app=app, token=settings.SANDBOX_SYSTEM_USER_TOKEN)
    return app


def system_user_token_create(*, app: SandboxApp, token: str) -> SandboxToken:
    """Register a partner system user token (never expiring) for an app."""
    return SandboxToken.objects.create(
        token_hash=ids.digest(token),
        hint=ids.hint(token),
        kind=SandboxToken.Kind.SYSTEM_USER,
        app=app,
        business=app.business,
        user_id=ids.new_id(),
        issued_at=clock.now(),
    )


@transaction.atomic
def sandbox_app_create(
    *, app_id: str, secret: str, name: str = "", callback_url: str = ""
) -> tuple[SandboxApp, str]:
    """Another partner app (a Tech Provider's own Meta app); returns it and a system user token."""
    business = SandboxBusiness.objects.create(
        business_id=ids.new_id(), name=f"{name or app_id} (partner)", is_partner=True
    )
    app = SandboxApp.objects.create(
        app_id=app_id,
        secret=secret,
        name=name or f"App {app_id}",
        business=business,
        callback_url=callback_url,
    )
    SandboxCreditLine.objects.create(
        credit_line_id=ids.new_id(), business=business, legal_entity_name=business.name
    )
    token = ids.new_secret("SANDBOX-SU-", 40)
    system_user_token_create(app=app, token=token)
    return app, token


def sandbox_config_get() -> SandboxConfig:
    """The runtime configuration row, seeded from settings on first use."""
    config = SandboxConfig.objects.filter(pk=1).first()
    if config is not None:
        return config
    config, _ = SandboxConfig.objects.get_or_create(
        pk=1,
        defaults={
            "template_review_delay_s": settings.SANDBOX_TEMPLATE_REVIEW_DELAY_S,
            "delivered_after_ms": settings.SANDBOX_DELIVERED_AFTER_MS,
            "read_after_ms": settings.SANDBOX_READ_AFTER_MS,
        },
    )
    return config


CONFIG_FIELDS = (
    "template_review_delay_s",
    "template_default_outcome",
    "reengagement_error",
    "delivered_after_ms",
    "read_after_ms",
    "enforce_throughput",
    "pair_rate_burst",
)


@transaction.atomic
def sandbox_config_update(**changes: object) -> SandboxConfig:
    """Change runtime knobs; unknown names are refused."""
    unknown = set(changes) - set(CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"unknown configuration fields: {', '.join(sorted(unknown))}")
    config = sandbox_config_get()
    for name, value in changes.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config
