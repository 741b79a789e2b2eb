"""Reads of onboarding state, for APIs, admin, the pipeline and the messaging app."""

from django.db.models import QuerySet

from onboarding.errors import NotFound
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    TechProvider,
    WhatsAppBusinessAccount,
)


def tech_provider_get_by_auth_id(auth_id: str) -> TechProvider | None:
    return TechProvider.objects.filter(auth_id=auth_id).first()


def tech_provider_get_by_public_id(public_id: str) -> TechProvider | None:
    return TechProvider.objects.filter(public_id=public_id, is_active=True).first()


def waba_list_for_tech_provider(
    *, tech_provider: TechProvider, status: str | None = None, reference: str | None = None
) -> QuerySet[WhatsAppBusinessAccount]:
    wabas = WhatsAppBusinessAccount.objects.filter(tech_provider=tech_provider)
    if status:
        wabas = wabas.filter(status=status)
    if reference:
        wabas = wabas.filter(reference=reference)
    return (
        wabas.select_related("onboarding")
        .prefetch_related("phone_numbers")
        .order_by("-created_at", "-id")
    )


def waba_get_for_tech_provider(
    *, tech_provider: TechProvider, waba_id: str
) -> WhatsAppBusinessAccount:
    """One WABA of this Tech Provider; another's answers exactly like a missing one."""
    waba = (
        WhatsAppBusinessAccount.objects.filter(tech_provider=tech_provider, waba_id=waba_id)
        .select_related("onboarding")
        .prefetch_related("phone_numbers")
        .first()
    )
    if waba is None:
        raise NotFound("WABA not found.")
    return waba


def onboarding_steps(onboarding: Onboarding) -> QuerySet[OnboardingStep]:
    return onboarding.steps.order_by("position")


def onboarding_events(onboarding: Onboarding) -> QuerySet[OnboardingEvent]:
    return onboarding.events.order_by("created_at", "id")
