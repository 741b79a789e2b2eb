"""Reads of onboarding state, for APIs, admin, the pipeline and the messaging app."""

from collections.abc import Iterable

from django.db.models import QuerySet

from onboarding.errors import NotFound
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    PhoneNumber,
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


# ---- reads used by messaging (webhook routing and delivery) ----


def waba_get_by_waba_id(waba_id: str) -> WhatsAppBusinessAccount | None:
    return WhatsAppBusinessAccount.objects.filter(waba_id=waba_id).first()


def wabas_by_waba_id(waba_ids: Iterable[str]) -> dict[str, WhatsAppBusinessAccount]:
    """The known WABAs among `waba_ids`, with their Tech Providers, keyed by Meta's id."""
    wabas = WhatsAppBusinessAccount.objects.filter(waba_id__in=set(waba_ids))
    return {waba.waba_id: waba for waba in wabas.select_related("tech_provider")}


def phone_numbers_by_id(phone_number_ids: Iterable[str]) -> dict[str, PhoneNumber]:
    """The known numbers among `phone_number_ids`, with WABA and Tech Provider, keyed by id."""
    numbers = PhoneNumber.objects.filter(phone_number_id__in=set(phone_number_ids))
    return {n.phone_number_id: n for n in numbers.select_related("waba__tech_provider")}


def waba_ids_known() -> QuerySet[WhatsAppBusinessAccount, str]:
    """Every WABA id we hold, as a queryset usable as a subquery."""
    return WhatsAppBusinessAccount.objects.values_list("waba_id", flat=True)


def phone_number_ids_known() -> QuerySet[PhoneNumber, str]:
    return PhoneNumber.objects.values_list("phone_number_id", flat=True)


def phone_numbers_of_waba(waba: WhatsAppBusinessAccount) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(waba=waba)


def tech_providers_by_pk(pks: Iterable[int]) -> dict[int, TechProvider]:
    return {tp.pk: tp for tp in TechProvider.objects.filter(pk__in=set(pks))}
