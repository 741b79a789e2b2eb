"""Reconciliation: find where Meta's side of an active WABA drifted from what onboarding left.

Periodically (beat, `RECONCILE_INTERVAL_S`) every active WABA is checked through the GraphClient:
the business token is valid and not within `RECONCILE_TOKEN_WARN_S` of its end, our app is still
subscribed with the WABA's own callback URL, every registered number is CONNECTED, and our credit
allocation is live and funds the WABA. Each problem is kept on the WABA (`drift`, shown and
filterable in admin) under the name of its check; a new or changed problem is told to the Tech
Provider once (`waba.drift_detected`), and so is its end (`waba.drift_resolved`). A check Meta
could not answer this time (a retryable error) is left as it was, neither raised nor cleared.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.graph import GraphClient, GraphError
from onboarding.models import OnboardingStep, PhoneNumber, WhatsAppBusinessAccount
from onboarding.services.activation import waba_event_payload
from onboarding.services.meta import (
    graph_client_for_system,
    graph_client_for_waba,
    waba_callback_url,
)
from onboarding.services.notifications import tech_provider_event_record

logger = logging.getLogger(__name__)

DRIFT_DETECTED = "waba.drift_detected"
DRIFT_RESOLVED = "waba.drift_resolved"
TOKEN, SUBSCRIPTION, PHONE_NUMBER, CREDIT_LINE = (
    "business_token",
    "subscription",
    "phone_number",
    "credit_line",
)
CHECKS = (TOKEN, SUBSCRIPTION, PHONE_NUMBER, CREDIT_LINE)

Problems = dict[str, str]


TOKEN_INVALID = (
    "The customer's business token is no longer valid (expired or revoked): the customer must "  # noqa: S105 - a message
    "run Embedded Signup again."
)
TOKEN_EXPIRED_CODE = 190


class _Round:
    """One WABA's checks: the problems found and the checks Meta answered."""

    def __init__(self, waba: WhatsAppBusinessAccount) -> None:
        self.waba = waba
        self.problems: Problems = {}
        self.answered: set[str] = set()
        self.client = graph_client_for_waba(waba)

    def run(self, check: str, body: Callable[[GraphClient], None]) -> None:
        try:
            try:
                body(self.client)
            except GraphError as error:
                if error.code != TOKEN_EXPIRED_CODE or not self.waba.business_token:
                    raise
                # The business token died during the round: say so, and look with ours.
                self.token_dead()
                body(self.client)
        except GraphError as error:
            if error.retryable:  # Meta did not answer this time: keep what we knew
                logger.info(
                    "reconcile %s: %s not checked (%s)", self.waba.waba_id, check, error.code
                )
                return
            self.problems[check] = f"Meta refused the check: code {error.code}, {error.message}"[
                :500
            ]
        self.answered.add(check)

    def token_dead(self) -> None:
        self.problems[TOKEN] = TOKEN_INVALID
        self.answered.add(TOKEN)
        self.client = graph_client_for_system()


def _token_viewer(waba: WhatsAppBusinessAccount) -> GraphClient:
    """Who may inspect the business token: the app it was issued to (the Tech Provider's own,
    as on the Connect page), else ours."""
    tech_provider = waba.tech_provider
    if tech_provider.meta_app_id and tech_provider.meta_app_secret:
        return GraphClient(f"{tech_provider.meta_app_id}|{tech_provider.meta_app_secret}")
    return graph_client_for_system()


def _check_token(round_: _Round, now: datetime) -> None:
    waba = round_.waba
    info = _token_viewer(waba).debug_token(waba.business_token)
    warn = timedelta(seconds=settings.RECONCILE_TOKEN_WARN_S)
    if not info.is_valid:
        round_.token_dead()
    elif waba.waba_id not in info.target_ids("whatsapp_business_management"):
        round_.problems[TOKEN] = "The customer's business token no longer grants this WABA."
    elif info.expires_at is not None and info.expires_at - now < warn:
        round_.problems[TOKEN] = (
            f"The customer's business token expires at {info.expires_at.isoformat()}: the "
            "customer must run Embedded Signup again before then."
        )


def _check_subscription(round_: _Round, client: GraphClient) -> None:
    waba = round_.waba
    ours = [
        a for a in client.list_subscribed_apps(waba.waba_id) if a.app_id == settings.META_APP_ID
    ]
    url = waba_callback_url(waba)
    if not ours:
        round_.problems[SUBSCRIPTION] = "Our app is no longer subscribed to the WABA's webhooks."
    elif ours[0].override_callback_uri != url:
        where = ours[0].override_callback_uri or "the app's default callback URL"
        round_.problems[SUBSCRIPTION] = f"The WABA's webhooks go to {where}, not to {url}."


def _check_numbers(round_: _Round, client: GraphClient) -> None:
    numbers = round_.waba.phone_numbers.filter(registration=PhoneNumber.Registration.REGISTERED)
    for number in numbers:
        status = client.get_phone_number(number.phone_number_id, fields=("status",)).status
        if status != "CONNECTED":
            round_.problems[f"{PHONE_NUMBER}:{number.phone_number_id}"] = (
                f"Number {number.display_phone_number or number.phone_number_id} is "
                f"{status or 'in no status'} at Meta, not CONNECTED."
            )


def _credit_expected(waba: WhatsAppBusinessAccount) -> bool:
    if not settings.META_CREDIT_LINE_ID:
        return False
    step = OnboardingStep.objects.filter(
        onboarding__waba=waba, name=OnboardingStep.Name.SHARE_CREDIT_LINE
    ).first()
    return step is not None and step.status == OnboardingStep.Status.SUCCEEDED


def _check_credit(round_: _Round, client: GraphClient) -> None:
    waba = round_.waba
    if not waba.allocation_config_id:
        round_.problems[CREDIT_LINE] = "No credit allocation is recorded for this WABA."
        return
    allocation = graph_client_for_system().get_credit_allocation(waba.allocation_config_id)
    if allocation.request_status == "DELETED":
        round_.problems[CREDIT_LINE] = (
            f"Our credit allocation {waba.allocation_config_id} was revoked: the WABA has no "
            "credit line."
        )
        return
    funding_id = client.get_waba(waba.waba_id, fields=["primary_funding_id"]).primary_funding_id
    if allocation.receiving_credential_id != funding_id:
        round_.problems[CREDIT_LINE] = (
            f"Our credit allocation {waba.allocation_config_id} no longer funds the WABA "
            f"(its funding source is {funding_id or 'none'})."
        )


def waba_reconcile(*, waba_pk: int) -> WhatsAppBusinessAccount:
    """Check one WABA at Meta and record what drifted (calls Meta; not atomic)."""
    waba = WhatsAppBusinessAccount.objects.select_related("tech_provider").get(pk=waba_pk)
    if waba.status != WhatsAppBusinessAccount.Status.ACTIVE:
        return waba
    round_ = _Round(waba)
    if waba.business_token:  # a dead one would fail every other check: they then use ours
        round_.run(TOKEN, lambda client: _check_token(round_, timezone.now()))
    round_.run(SUBSCRIPTION, lambda client: _check_subscription(round_, client))
    round_.run(PHONE_NUMBER, lambda client: _check_numbers(round_, client))
    if _credit_expected(waba):
        round_.run(CREDIT_LINE, lambda client: _check_credit(round_, client))
    return waba_drift_record(waba_pk=waba.pk, problems=round_.problems, answered=round_.answered)


def _check_of(key: str) -> str:
    return key.split(":", 1)[0]


@transaction.atomic
def waba_drift_record(
    *, waba_pk: int, problems: Problems, answered: set[str]
) -> WhatsAppBusinessAccount:
    """Store this round's findings; tell the Tech Provider what is new and what has ended."""
    waba = (
        WhatsAppBusinessAccount.objects.select_for_update()
        .select_related("tech_provider")
        .get(pk=waba_pk)
    )
    previous: Problems = dict(waba.drift or {})
    kept = {k: v for k, v in previous.items() if _check_of(k) not in answered}
    current = {**kept, **problems}
    new = {k: v for k, v in current.items() if previous.get(k) != v}
    resolved = sorted(set(previous) - set(current))
    now = timezone.now()
    waba.drift = current
    waba.drift_since = (waba.drift_since or now) if current else None
    waba.reconciled_at = now
    waba.save(update_fields=["drift", "drift_since", "reconciled_at", "updated_at"])
    if new:
        logger.warning("drift on WABA %s: %s", waba.waba_id, ", ".join(sorted(new)))
        _tell(waba, DRIFT_DETECTED, {"problems": new, "drift": current})
    if resolved:
        logger.info("drift ended on WABA %s: %s", waba.waba_id, ", ".join(resolved))
        _tell(waba, DRIFT_RESOLVED, {"resolved": resolved, "drift": current})
    return waba


def _tell(waba: WhatsAppBusinessAccount, event_type: str, detail: dict[str, Any]) -> None:
    tech_provider_event_record(
        tech_provider=waba.tech_provider,
        waba=waba,
        event_type=event_type,
        payload={**waba_event_payload(waba), **detail},
    )


def wabas_reconcile_enqueue() -> int:
    """Queue one reconcile task per active WABA (the beat task's body); returns how many."""
    from onboarding import tasks  # tasks import this module

    pks = list(
        WhatsAppBusinessAccount.objects.filter(status=WhatsAppBusinessAccount.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in pks:
        tasks.waba_reconcile.delay(pk)
    return len(pks)
