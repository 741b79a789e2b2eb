"""Credit lines shared with customers' WABAs (Solution Partner billing)."""

from django.db import transaction

from sandbox import clock, ids
from sandbox.graph.errors import invalid_parameter
from sandbox.models import SandboxCreditAllocation, SandboxCreditLine, SandboxWaba
from sandbox.services.accounts import CURRENCIES


def credit_share_and_attach(
    *, credit_line: SandboxCreditLine, waba: SandboxWaba, currency: str
) -> SandboxCreditAllocation:
    """Share the line with the WABA's business and attach it to the WABA.

    A WABA keeps the line it was attached to: sharing again while an allocation is live is
    refused, so a caller that lost the first answer must look the allocation up instead.
    """
    if currency not in CURRENCIES:
        raise invalid_parameter(f"Param waba_currency must be one of {{{', '.join(CURRENCIES)}}}")
    with transaction.atomic():
        waba = SandboxWaba.objects.select_for_update().get(pk=waba.pk)
        live = SandboxCreditAllocation.objects.filter(waba=waba, deleted_at__isnull=True)
        if live.exists():
            raise invalid_parameter(
                "A credit line is already attached to this WhatsApp Business Account",
                user_title="Credit line already attached",
                user_msg="Credit lines cannot be changed after being attached to a WABA.",
            )
        allocation = SandboxCreditAllocation.objects.create(
            allocation_config_id=ids.new_id(),
            credit_line=credit_line,
            waba=waba,
            receiving_business=waba.business,
            receiving_credential_id=ids.new_id(),
            currency=currency,
        )
        waba.primary_funding_id = allocation.receiving_credential_id
        waba.currency = currency
        waba.save(update_fields=["primary_funding_id", "currency", "updated_at"])
    return allocation


@transaction.atomic
def credit_allocation_delete(*, allocation: SandboxCreditAllocation) -> None:
    """Revoke: the line is no longer shared with that business, on any of its WABAs."""
    now = clock.now()
    revoked = SandboxCreditAllocation.objects.filter(
        credit_line=allocation.credit_line,
        receiving_business=allocation.receiving_business,
        deleted_at__isnull=True,
    )
    for each in revoked.select_related("waba"):
        if each.waba.primary_funding_id == each.receiving_credential_id:
            each.waba.primary_funding_id = ""
            each.waba.save(update_fields=["primary_funding_id", "updated_at"])
    revoked.update(deleted_at=now, request_status="DELETED")
