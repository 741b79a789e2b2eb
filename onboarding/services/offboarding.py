"""Offboarding a WABA: revoke our credit allocation, unsubscribe our app, mark it offboarded.

Called by staff (admin action) and by messaging on Meta's `account_update` PARTNER_REMOVED. By
then the customer may have unshared the WABA, so Meta can refuse our calls: each call is best
effort, its failure is recorded in the audit row, and the WABA is offboarded regardless. What
is left undone stays visible (allocation_config_id, webhooks_subscribed_at), so running the
offboarding again, once Meta answers, finishes it.
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from onboarding.graph import GraphError
from onboarding.models import Onboarding, OnboardingEvent, WhatsAppBusinessAccount
from onboarding.services.activation import waba_event_payload
from onboarding.services.credit_line import waba_credit_line_revoke
from onboarding.services.meta import graph_client_for_system
from onboarding.services.notifications import tech_provider_event_record
from onboarding.services.pipeline import onboarding_stop_offboarded
from onboarding.services.waba_webhooks import waba_webhooks_unsubscribe

logger = logging.getLogger(__name__)

WABA_OFFBOARDED = "waba.offboarded"
OFFBOARD_STEP = "offboard"  # OnboardingEvent.step of offboarding rows


def _problem(error: GraphError) -> dict[str, Any]:
    return {
        "error": type(error).__name__,
        "code": error.code,
        "fbtrace_id": error.fbtrace_id,
        "message": error.message[:500],
        "retryable": error.retryable,
    }


def _already_revoked(allocation_config_id: str) -> bool:
    try:
        allocation = graph_client_for_system().get_credit_allocation(allocation_config_id)
    except GraphError:
        return False
    return allocation.request_status == "DELETED"


def _revoke(waba: WhatsAppBusinessAccount, problems: dict[str, Any]) -> None:
    allocation_config_id = waba.allocation_config_id
    try:
        waba_credit_line_revoke(waba=waba)
    except GraphError as error:
        if not error.retryable and _already_revoked(allocation_config_id):
            waba.allocation_config_id = ""
            waba.save(update_fields=["allocation_config_id", "updated_at"])
            return
        problems["revoke_credit_allocation"] = _problem(error)
        logger.warning("offboarding %s: revoke failed: %s", waba.waba_id, error)


def _unsubscribe(waba: WhatsAppBusinessAccount, problems: dict[str, Any]) -> None:
    try:
        waba_webhooks_unsubscribe(waba=waba)
    except GraphError as error:
        problems["unsubscribe_app"] = _problem(error)
        logger.warning("offboarding %s: unsubscribe failed: %s", waba.waba_id, error)
        if not error.retryable:  # we lost access to the WABA: there is nothing left to undo
            waba.webhooks_subscribed_at = None
            waba.save(update_fields=["webhooks_subscribed_at", "updated_at"])


def waba_offboard(
    *, waba: WhatsAppBusinessAccount, reason: str, actor: str
) -> WhatsAppBusinessAccount:
    """Revoke the credit allocation, unsubscribe our app and mark the WABA offboarded.

    Safe to run again: it only retries what is still undone. The Tech Provider is told once.
    """
    waba = WhatsAppBusinessAccount.objects.select_related("tech_provider").get(pk=waba.pk)
    first_time = waba.status != WhatsAppBusinessAccount.Status.OFFBOARDED
    problems: dict[str, Any] = {}
    revoke_wanted = bool(waba.allocation_config_id)
    if revoke_wanted:
        _revoke(waba, problems)
    unsubscribe_wanted = first_time or waba.webhooks_subscribed_at is not None
    if unsubscribe_wanted:
        _unsubscribe(waba, problems)
    detail = {
        "revoked_credit_allocation": revoke_wanted and "revoke_credit_allocation" not in problems,
        "unsubscribed_app": unsubscribe_wanted and "unsubscribe_app" not in problems,
        "problems": problems,
    }
    return _mark_offboarded(waba, reason=reason, actor=actor, first_time=first_time, detail=detail)


@transaction.atomic
def _mark_offboarded(
    waba: WhatsAppBusinessAccount,
    *,
    reason: str,
    actor: str,
    first_time: bool,
    detail: dict[str, Any],
) -> WhatsAppBusinessAccount:
    previous = waba.status
    waba.status = WhatsAppBusinessAccount.Status.OFFBOARDED
    waba.offboard_reason = reason
    waba.offboarded_at = waba.offboarded_at if not first_time else timezone.now()
    waba.save(update_fields=["status", "offboard_reason", "offboarded_at", "updated_at"])
    onboarding = Onboarding.objects.filter(waba=waba).first()
    if onboarding is not None:
        OnboardingEvent.objects.create(
            onboarding=onboarding,
            step=OFFBOARD_STEP,
            from_status=previous,
            to_status=WhatsAppBusinessAccount.Status.OFFBOARDED,
            reason=reason,
            detail=detail,
            actor=actor,
        )
        if onboarding.status != Onboarding.Status.ACTIVE:
            onboarding_stop_offboarded(onboarding_id=onboarding.pk)
    if first_time:
        tech_provider_event_record(
            tech_provider=waba.tech_provider,
            waba=waba,
            event_type=WABA_OFFBOARDED,
            payload={**waba_event_payload(waba), "reason": reason},
        )
    return waba
