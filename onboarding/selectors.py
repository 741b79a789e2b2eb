"""Reads of onboarding state, for APIs, admin, the pipeline and the messaging app."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Replace

from onboarding import crypto
from onboarding.errors import NotFound
from onboarding.fields import EncryptedTextField
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    PhoneNumber,
    SignupSession,
    TechProvider,
    WhatsAppBusinessAccount,
)

# Every API request authenticates, so this read is on every hot path: on PostgreSQL it is one
# static statement (the ORM's query building cost several times PostgreSQL's work), and the
# encrypted secrets, which no authorisation needs, are left deferred instead of decrypted.
_AUTH_FIELDS = tuple(
    f for f in TechProvider._meta.concrete_fields if not isinstance(f, EncryptedTextField)
)
_AUTH_SQL = (
    f"SELECT {', '.join(str(f.column) for f in _AUTH_FIELDS)} "  # noqa: S608 - our own names only
    f"FROM {TechProvider._meta.db_table} WHERE auth_id = %s"
)


# The columns of that read, for a statement that reads more beside them (messaging's send).
TECH_PROVIDER_AUTH_COLUMNS = tuple(str(f.column) for f in _AUTH_FIELDS)


def tech_provider_from_auth_row(values: Sequence[Any]) -> TechProvider:
    """The Tech Provider of a row of TECH_PROVIDER_AUTH_COLUMNS, its secrets deferred."""
    return TechProvider.from_db(connection.alias, [f.attname for f in _AUTH_FIELDS], values)


def tech_provider_for_auth(auth_id: str) -> TechProvider | None:
    """The Tech Provider an API credential names, its secrets deferred (loaded on first use)."""
    if connection.vendor != "postgresql":
        deferred = [f.attname for f in TechProvider._meta.concrete_fields if f not in _AUTH_FIELDS]
        return TechProvider.objects.defer(*deferred).filter(auth_id=auth_id).first()
    with connection.cursor() as cursor:
        cursor.execute(_AUTH_SQL, [auth_id])
        row = cursor.fetchone()
    return None if row is None else tech_provider_from_auth_row(row)


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


def signup_session_get_by_status_token(
    *, tech_provider: TechProvider, status_token: str
) -> SignupSession:
    """The finished page session behind a status token; anything else is not found."""
    session = (
        SignupSession.objects.filter(
            tech_provider=tech_provider,
            status_token_hash=crypto.token_hash(status_token),
            waba__isnull=False,
        )
        .select_related("waba__onboarding")
        .first()
    )
    if session is None:
        raise NotFound("Signup not found.")
    return session


def signup_funnel(*, tech_provider: TechProvider) -> dict[str, Any]:
    """Pages opened, dialogs finished, cancelled by step, errored, rejected and onboarded."""
    sessions = SignupSession.objects.filter(tech_provider=tech_provider)
    by_status = dict(sessions.values_list("status").annotate(n=Count("id")).order_by())
    cancelled_by_step = dict(
        sessions.filter(status=SignupSession.Status.CANCELLED)
        .values_list("current_step")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    finished = by_status.get("finished", 0) + by_status.get("rejected", 0)
    return {
        "opened": sessions.count(),
        "finished": finished,
        "accepted": by_status.get("finished", 0),
        "rejected": by_status.get("rejected", 0),
        "cancelled": by_status.get("cancelled", 0),
        "errored": by_status.get("errored", 0),
        "onboarded": sessions.filter(waba__status=WhatsAppBusinessAccount.Status.ACTIVE).count(),
        "cancelled_by_step": {step or "(unknown step)": n for step, n in cancelled_by_step.items()},
    }


# ---- reads used by messaging's send, template and quality APIs (issue 7) ----


def _display_digits() -> Any:
    """The display number without the +, spaces, dashes and brackets Meta formats it with."""
    expression: Any = F("display_phone_number")
    for mark in ("+", " ", "-", "(", ")", "."):
        expression = Replace(expression, Value(mark), Value(""))
    return expression


def phone_numbers_by_display_digits(
    *, tech_provider: TechProvider, digits: str
) -> QuerySet[PhoneNumber]:
    """This Tech Provider's numbers whose display number is `digits`, best candidates first
    (an active WABA's, then the newest); with their WABA."""
    return (
        PhoneNumber.objects.filter(waba__tech_provider=tech_provider)
        .annotate(display_digits=_display_digits())
        .filter(display_digits=digits)
        .select_related("waba")
        .order_by(
            Case(When(waba__status=WhatsAppBusinessAccount.Status.ACTIVE, then=0), default=1),
            "-id",
        )
    )


def phone_numbers_sending() -> QuerySet[PhoneNumber]:
    """Numbers that can send: registered (or coexistence) numbers of active WABAs."""
    return PhoneNumber.objects.filter(
        Q(registration=PhoneNumber.Registration.REGISTERED) | Q(is_coexistence=True),
        waba__status=WhatsAppBusinessAccount.Status.ACTIVE,
    ).select_related("waba")


def wabas_active() -> QuerySet[WhatsAppBusinessAccount]:
    return WhatsAppBusinessAccount.objects.filter(status=WhatsAppBusinessAccount.Status.ACTIVE)
