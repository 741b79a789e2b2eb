"""The hosted Connect page's server side: page sessions, the code exchange, the signup hand-off.

The code Meta gives the browser lives about 30 seconds and works once, so it is exchanged here,
synchronously, in the browser's request, and never retried: after a timeout Meta may already
have consumed it. The business token is then inspected with `debug_token` (valid, issued to this
Tech Provider's app, granted on the WABA) before the same service as the REST API records it.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from onboarding import crypto
from onboarding.errors import (
    AccountForbidden,
    MpsInactive,
    OnboardingError,
    PhoneNumberTaken,
    WabaAlreadyRegistered,
)
from onboarding.graph.client import GraphClient
from onboarding.graph.errors import GraphError
from onboarding.graph.types import TokenInfo
from onboarding.models import Onboarding, SignupSession, TechProvider, WhatsAppBusinessAccount
from onboarding.services.signup import embedded_signup_submit
from onboarding.signup_input import signup_input_validate

PAGE_LIFETIME = timedelta(hours=1)
MANAGEMENT_SCOPE = "whatsapp_business_management"
Event = WhatsAppBusinessAccount.SignupEvent
_NO_NUMBER_EVENTS = {Event.FINISH_ONLY_WABA, Event.FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING}
START_AGAIN = "Click Connect WhatsApp to start again."


class ConnectRejected(OnboardingError):
    """A signup the page cannot accept; `message` is written for the customer."""


@dataclass(frozen=True)
class PageSession:
    session: SignupSession
    nonce: str


@dataclass(frozen=True)
class Submission:
    nonce: str
    code: str
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    reference: str = ""


@dataclass(frozen=True)
class Accepted:
    onboarding: Onboarding
    status_token: str


def signup_session_open(*, tech_provider: TechProvider, reference: str = "") -> PageSession:
    """Start a page session: its nonce is the only thing that lets the page POST a signup."""
    nonce = secrets.token_urlsafe(32)
    session = SignupSession.objects.create(
        tech_provider=tech_provider,
        nonce_hash=crypto.token_hash(nonce),
        reference=reference[:64],
    )
    return PageSession(session, nonce)


@transaction.atomic
def signup_session_claim(*, tech_provider: TechProvider, nonce: str) -> SignupSession:
    """Consume the page's one-time nonce, or refuse: reused, expired or another TP's."""
    session = (
        SignupSession.objects.select_for_update()
        .filter(
            nonce_hash=crypto.token_hash(nonce),
            tech_provider=tech_provider,
            submitted_at__isnull=True,
            created_at__gte=timezone.now() - PAGE_LIFETIME,
        )
        .first()
    )
    if session is None:
        raise ConnectRejected("This page has expired. Reload it and try again.")
    session.submitted_at = timezone.now()
    session.save(update_fields=["submitted_at", "updated_at"])
    return session


def signup_session_record_abandon(*, session: SignupSession, submission: Submission) -> None:
    """Record a cancelled or errored dialog: where the customer stopped, and why."""
    data = submission.data
    errored = submission.event == "ERROR" or bool(data.get("error_message"))
    session.status = SignupSession.Status.ERRORED if errored else SignupSession.Status.CANCELLED
    session.event = submission.event[:64] or "CANCEL"
    session.current_step = str(data.get("current_step") or "")[:64]
    session.error_message = str(data.get("error_message") or "")[:2000]
    session.error_code = str(data.get("error_code") or "")[:32]
    session.meta_session_id = str(data.get("session_id") or "")[:64]
    session.save()


def _reject(
    session: SignupSession, event: str, reason: str, customer_message: str
) -> ConnectRejected:
    """Record why the signup was refused; return the error for the customer."""
    session.status = SignupSession.Status.REJECTED
    session.event = event[:64]
    session.rejection_reason = reason[:2000]
    session.save()
    return ConnectRejected(customer_message)


def _inspect(tech_provider: TechProvider, code: str) -> tuple[str, TokenInfo]:
    """Exchange the code once and inspect the token with the app's own access token."""
    app_id, app_secret = tech_provider.meta_app_id, tech_provider.meta_app_secret
    token = GraphClient("").exchange_code_for_token(code=code, app_id=app_id, app_secret=app_secret)
    info = GraphClient(f"{app_id}|{app_secret}").debug_token(token.access_token)
    return token.access_token, info


def _granted_waba(tech_provider: TechProvider, info: TokenInfo, waba_id: str) -> str:
    """The WABA the token was granted on: the browser's, checked, or the only one granted."""
    if not info.is_valid:
        raise _TokenRefused(
            "debug_token: the token is not valid", "Meta reports the sign-in is not valid."
        )
    if info.app_id != tech_provider.meta_app_id:
        raise _TokenRefused(
            f"debug_token: token of app {info.app_id}, expected {tech_provider.meta_app_id}",
            "The sign-in was made for another app.",
        )
    granted = {t for s in info.granular_scopes if s.scope == MANAGEMENT_SCOPE for t in s.target_ids}
    if waba_id and waba_id in granted:
        return waba_id
    if not waba_id and len(granted) == 1:
        return granted.pop()
    raise _TokenRefused(
        f"debug_token: WABA {waba_id or '(none sent)'} not among granted {sorted(granted)}",
        "The WhatsApp Business Account you chose was not shared with us. "
        "Keep it selected when Meta asks for permissions.",
    )


class _TokenRefused(Exception):
    def __init__(self, reason: str, customer_message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.customer_message = customer_message


def _graph_failure_message(error: GraphError) -> str:
    if error.code == 100:
        return "This sign-in was already used or took too long."
    if error.retryable:
        return "We could not reach Meta to confirm your sign-in."
    return "Meta did not accept the sign-in."


def _customer_message(error: OnboardingError, tech_provider: TechProvider) -> str:
    if isinstance(error, WabaAlreadyRegistered):
        return "This WhatsApp Business Account is already connected."
    if isinstance(error, PhoneNumberTaken):
        return "This phone number is already connected to another WhatsApp Business Account."
    if isinstance(error, MpsInactive | AccountForbidden):
        return f"{tech_provider.name} cannot connect numbers yet. Please contact them."
    return "Meta sent incomplete signup details."


def _signup_event(event: str) -> str:
    return event if event in Event.values else Event.FINISH


def connect_submit(*, tech_provider: TechProvider, submission: Submission) -> Accepted | None:
    """Handle the page's POST: record an abandoned dialog (None) or onboard (Accepted)."""
    session = signup_session_claim(tech_provider=tech_provider, nonce=submission.nonce)
    abandoned = submission.event and not submission.event.startswith("FINISH")
    if abandoned or not submission.code:
        signup_session_record_abandon(session=session, submission=submission)
        return None
    event = _signup_event(submission.event)
    try:
        business_token, info = _inspect(tech_provider, submission.code)
        waba_id = _granted_waba(tech_provider, info, str(submission.data.get("waba_id") or ""))
    except GraphError as error:
        message = f"{_graph_failure_message(error)} {START_AGAIN}"
        raise _reject(session, event, f"Meta {error.code}: {error}", message) from error
    except _TokenRefused as refused:
        message = f"{refused.customer_message} {START_AGAIN}"
        raise _reject(session, event, refused.reason, message) from refused
    return _hand_off(session, submission, event, waba_id, business_token, info)


def _hand_off(
    session: SignupSession,
    submission: Submission,
    event: str,
    waba_id: str,
    business_token: str,
    info: TokenInfo,
) -> Accepted:
    tech_provider = session.tech_provider
    data = {**submission.data, "waba_id": waba_id, "reference": session.reference}
    try:
        if not data.get("business_id"):  # coexistence sends only the WABA id
            data["business_id"] = GraphClient(business_token).get_waba(waba_id).owner_business_id
        signup = signup_input_validate(data, require_phone_number=event not in _NO_NUMBER_EVENTS)
        onboarding = embedded_signup_submit(
            tech_provider=tech_provider,
            signup=signup,
            signup_event=event,
            business_token=business_token,
            business_token_expires_at=info.expires_at,
            actor="connect-page",
        )
    except GraphError as error:
        message = f"{_graph_failure_message(error)} {START_AGAIN}"
        raise _reject(session, event, f"Meta {error.code}: {error}", message) from error
    except OnboardingError as error:
        message = _customer_message(error, tech_provider)
        raise _reject(session, event, error.message, message) from error
    return _accept(session, event, onboarding)


def _accept(session: SignupSession, event: str, onboarding: Onboarding) -> Accepted:
    status_token = secrets.token_urlsafe(24)
    session.status = SignupSession.Status.FINISHED
    session.event = event
    session.waba = onboarding.waba
    session.status_token_hash = crypto.token_hash(status_token)
    session.save()
    return Accepted(onboarding, status_token)
