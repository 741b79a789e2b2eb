"""Fault injection: create, clear and consume the failures the Graph simulator injects."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q

from sandbox.models import SandboxFault


@dataclass(frozen=True)
class AppliedFault:
    """A snapshot of the fault a call consumed (the row may be used up meanwhile)."""

    id: int
    kind: str
    error_code: int | None
    error_subcode: int | None
    error_message: str
    http_status: int | None
    latency_ms: int
    with_effect: bool

    def describe(self) -> str:
        what = f"{self.kind} {self.error_code}" if self.kind == "error" else self.kind
        return f"fault #{self.id}: {what}"


def fault_create(
    *,
    endpoint: str,
    kind: str = SandboxFault.Kind.ERROR,
    error_code: int | None = None,
    error_subcode: int | None = None,
    error_message: str = "",
    http_status: int | None = None,
    latency_ms: int = 0,
    with_effect: bool = False,
    times: int | None = 1,
    object_id: str = "",
) -> SandboxFault:
    """Inject a fault for the next `times` matching calls (None: until cleared)."""
    fault = SandboxFault(
        endpoint=endpoint,
        object_id=object_id,
        kind=kind,
        error_code=error_code,
        error_subcode=error_subcode,
        error_message=error_message,
        http_status=http_status,
        latency_ms=latency_ms,
        with_effect=with_effect,
        remaining=times,
    )
    fault.full_clean()
    fault.save()
    return fault


def fault_clear(*, fault_id: int | None = None) -> int:
    """Deactivate one fault, or all of them; returns how many were active."""
    active = SandboxFault.objects.filter(is_active=True)
    if fault_id is not None:
        active = active.filter(pk=fault_id)
    return active.update(is_active=False)


def fault_take(*, endpoint: str, object_id: str) -> AppliedFault | None:
    """Consume one use of the oldest active fault matching this call, if any."""
    matching = SandboxFault.objects.filter(
        Q(endpoint=endpoint) | Q(endpoint="*"),
        Q(object_id="") | Q(object_id=object_id),
        is_active=True,
    ).exclude(remaining=0)
    for fault in matching.order_by("id"):
        if _consume(fault):
            return AppliedFault(
                fault.pk,
                fault.kind,
                fault.error_code,
                fault.error_subcode,
                fault.error_message,
                fault.http_status,
                fault.latency_ms,
                fault.with_effect,
            )
    return None


@transaction.atomic
def _consume(fault: SandboxFault) -> bool:
    """A conditional update, so concurrent calls never use one remaining use twice."""
    rows = SandboxFault.objects.filter(pk=fault.pk, is_active=True)
    if fault.remaining is None:
        return rows.filter(remaining__isnull=True).update(applied=F("applied") + 1) == 1
    updated = rows.filter(remaining__gt=0).update(
        remaining=F("remaining") - 1, applied=F("applied") + 1
    )
    return updated == 1
