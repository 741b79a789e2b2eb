"""Our credit line on a customer's WABA: share and attach it, verify it, revoke it.

Every call here uses our system user token (meta-platform.md 5), except reading the WABA's
primary_funding_id, which uses the customer's token where we have it.
"""

from django.conf import settings

from onboarding.graph import GraphClient
from onboarding.graph.client import CREDIT_LINE_CURRENCIES
from onboarding.graph.types import CreditAllocation
from onboarding.models import OnboardingStep, WhatsAppBusinessAccount
from onboarding.services.faults import crash_point
from onboarding.services.meta import graph_client_for_system, graph_client_for_waba
from onboarding.services.outcomes import StepFailed, StepOutcome, StepRetry

NO_CREDIT_LINE = (
    "No credit line is configured (META_CREDIT_LINE_ID is empty): as a Tech Provider we do not "
    "share credit; the customer adds a payment method in WhatsApp Manager."
)


def _funding_id(waba: WhatsAppBusinessAccount) -> str:
    info = graph_client_for_waba(waba).get_waba(waba.waba_id, fields=["primary_funding_id"])
    return info.primary_funding_id


def _save_allocation(waba: WhatsAppBusinessAccount, allocation_config_id: str) -> None:
    waba.allocation_config_id = allocation_config_id
    waba.save(update_fields=["allocation_config_id", "updated_at"])


def _find_attached(system: GraphClient, waba: WhatsAppBusinessAccount) -> CreditAllocation | None:
    """An allocation of ours already funding this WABA (a share whose answer we lost)."""
    allocations = system.list_credit_allocations(
        settings.META_CREDIT_LINE_ID, receiving_business_id=waba.business_id
    )
    live = [a for a in allocations if a.request_status != "DELETED"]
    if not live:
        return None
    funding_id = _funding_id(waba)
    for allocation in live:
        if not allocation.receiving_credential_id:
            allocation = system.get_credit_allocation(allocation.id)
        if funding_id and allocation.receiving_credential_id == funding_id:
            return allocation
    return None


def waba_credit_line_share(*, step: OnboardingStep, in_doubt: bool) -> StepOutcome:
    """Share and attach our credit line, store the allocation_config_id, and verify it.

    A credit line cannot be changed once attached, so after an attempt without an answer we
    look for an allocation already funding the WABA before sharing again.
    """
    waba = step.onboarding.waba
    if step.result.get("verified") and waba.allocation_config_id:
        return StepOutcome(result=step.result)
    if not settings.META_CREDIT_LINE_ID:
        return StepOutcome(skipped=True, note=NO_CREDIT_LINE)
    if waba.currency not in CREDIT_LINE_CURRENCIES:
        raise StepFailed(
            f"The WABA's currency {waba.currency!r} is not one Meta accepts for a credit line "
            f"({', '.join(sorted(CREDIT_LINE_CURRENCIES))}): set a supported currency, then retry."
        )
    system = graph_client_for_system()
    if not waba.allocation_config_id and in_doubt:
        found = _find_attached(system, waba)
        if found is not None:  # verified by the lookup itself
            _save_allocation(waba, found.id)
            return _verified(waba, found)
    if not waba.allocation_config_id:
        shared = system.share_credit_line(
            settings.META_CREDIT_LINE_ID, waba_id=waba.waba_id, currency=waba.currency
        )
        crash_point(OnboardingStep.Name.SHARE_CREDIT_LINE)
        _save_allocation(waba, shared.allocation_config_id)
    return _verify(system, waba)


def _verify(system: GraphClient, waba: WhatsAppBusinessAccount) -> StepOutcome:
    """The share is right when the allocation's receiving credential is the WABA's funding id."""
    allocation = system.get_credit_allocation(waba.allocation_config_id)
    funding_id = _funding_id(waba)
    if not allocation.receiving_credential_id or allocation.receiving_credential_id != funding_id:
        raise StepRetry(
            f"Credit allocation {waba.allocation_config_id} is not the WABA's funding source yet "
            f"(receiving credential {allocation.receiving_credential_id or 'none'}, "
            f"primary_funding_id {funding_id or 'none'})."
        )
    return _verified(waba, allocation)


def _verified(waba: WhatsAppBusinessAccount, allocation: CreditAllocation) -> StepOutcome:
    return StepOutcome(
        result={
            "allocation_config_id": waba.allocation_config_id,
            "receiving_credential_id": allocation.receiving_credential_id,
            "currency": waba.currency,
            "verified": True,
        }
    )


def waba_credit_line_revoke(*, waba: WhatsAppBusinessAccount) -> None:
    """Revoke our credit allocation on the WABA (offboarding); a no-op when there is none."""
    if not waba.allocation_config_id:
        return
    graph_client_for_system().revoke_credit_allocation(waba.allocation_config_id)
    _save_allocation(waba, "")
