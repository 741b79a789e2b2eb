"""The one place onboardings and their steps change status, each move with an audit row.

A move is checked against the tables in onboarding.models, applied with a conditional UPDATE
filtered on the status we saw (and, for a running step, on our lease), and recorded as an
OnboardingEvent in the same transaction. Zero rows updated means someone else moved it first:
the caller gets False and must not act on the move.
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from onboarding.errors import InvalidTransition
from onboarding.models import (
    ONBOARDING_TRANSITIONS,
    STEP_TRANSITIONS,
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    WhatsAppBusinessAccount,
)

logger = logging.getLogger(__name__)

WabaStatus = WhatsAppBusinessAccount.Status
# The WABA's status follows its onboarding's, except that activation is the activate step's job
# and an offboarded WABA stays offboarded.
_WABA_STATUS_FOR = {
    Onboarding.Status.PENDING: WabaStatus.ONBOARDING,
    Onboarding.Status.FAILED: WabaStatus.FAILED,
}


def _check(table: dict[str, frozenset[str]], what: str, current: str, to: str) -> None:
    if to not in table.get(current, frozenset()):
        raise InvalidTransition(f"The {what} cannot go from {current} to {to}.")


@transaction.atomic
def step_transition(
    step: OnboardingStep,
    *,
    to: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    actor: str = "system",
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move `step` from its current status to `to`, writing `fields` too; False if beaten.

    `where` adds conditions to the UPDATE (e.g. our lease owner, the attempts we saw).
    """
    _check(STEP_TRANSITIONS, f"step {step.name}", step.status, to)
    now = timezone.now()
    updated = OnboardingStep.objects.filter(pk=step.pk, status=step.status, **(where or {})).update(
        status=to, updated_at=now, **fields
    )
    if not updated:
        logger.info("step %s of onboarding %s moved by someone else", step.name, step.onboarding_id)
        return False
    OnboardingEvent.objects.create(
        onboarding_id=step.onboarding_id,
        step=step.name,
        from_status=step.status,
        to_status=to,
        reason=reason,
        detail=detail or {},
        actor=actor,
    )
    Onboarding.objects.filter(pk=step.onboarding_id).update(updated_at=now)
    for name, value in {"status": to, "updated_at": now, **fields}.items():
        setattr(step, name, value)
    return True


@transaction.atomic
def onboarding_transition(
    onboarding: Onboarding,
    *,
    to: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    actor: str = "system",
    **fields: Any,
) -> bool:
    """Move `onboarding` to `to` (and its WABA's status with it); False if beaten."""
    _check(ONBOARDING_TRANSITIONS, "onboarding", onboarding.status, to)
    now = timezone.now()
    updated = Onboarding.objects.filter(pk=onboarding.pk, status=onboarding.status).update(
        status=to, updated_at=now, **fields
    )
    if not updated:
        logger.info("onboarding %s moved by someone else", onboarding.pk)
        return False
    OnboardingEvent.objects.create(
        onboarding=onboarding,
        from_status=onboarding.status,
        to_status=to,
        reason=reason,
        detail=detail or {},
        actor=actor,
    )
    waba_status = _WABA_STATUS_FOR.get(Onboarding.Status(to))
    if waba_status is not None:
        WhatsAppBusinessAccount.objects.filter(pk=onboarding.waba_id).exclude(
            status=WabaStatus.OFFBOARDED
        ).update(status=waba_status, updated_at=now)
    for name, value in {"status": to, "updated_at": now, **fields}.items():
        setattr(onboarding, name, value)
    return True
