"""The onboarding pipeline: run each step once, in order, with every bit of state in PostgreSQL.

A step runs only after a worker claims it (a conditional UPDATE that takes a lease), so two
workers never run one step. Its service then calls Meta and reports an outcome, and the outcome
decides the next move: succeeded (enqueue the next step), waiting (a retryable error backs off
exponentially with jitter, a wait-long error waits until next_attempt_at), or failed (an
actionable reason on the onboarding). The broker is only a nudge: a periodic sweeper re-enqueues
due waits, expired leases and lost messages, so no countdown ever exceeds MAX_COUNTDOWN_S.
"""

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from onboarding.errors import InvalidTransition
from onboarding.graph import GraphError
from onboarding.models import Onboarding, OnboardingStep, WhatsAppBusinessAccount
from onboarding.services.activation import waba_activate, waba_event_payload
from onboarding.services.credit_line import waba_credit_line_share
from onboarding.services.failure_reasons import failure_reason
from onboarding.services.meta import token_kind
from onboarding.services.notifications import tech_provider_event_record
from onboarding.services.outcomes import StepFailed, StepOutcome, StepRetry, StepWait
from onboarding.services.phone_numbers import phone_number_fetch, phone_number_register
from onboarding.services.transitions import onboarding_transition, step_transition
from onboarding.services.waba_webhooks import waba_webhooks_subscribe

logger = logging.getLogger(__name__)

Step = OnboardingStep.Name
StepStatus = OnboardingStep.Status
Status = Onboarding.Status
StepService = Callable[..., StepOutcome]

MAX_COUNTDOWN_S = 300  # longer waits live in next_attempt_at and the sweeper, not the broker
WABA_ONBOARDING_FAILED = "waba.onboarding_failed"
STEP_SERVICES: dict[str, StepService] = {
    Step.SUBSCRIBE_WEBHOOKS: waba_webhooks_subscribe,
    Step.SHARE_CREDIT_LINE: waba_credit_line_share,
    Step.REGISTER_PHONE_NUMBER: phone_number_register,
    Step.FETCH_PHONE_NUMBER: phone_number_fetch,
    Step.ACTIVATE: waba_activate,
}
_DONE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
_OPEN = (Status.PENDING, Status.RUNNING, Status.WAITING)
_CLEAR_ERROR: dict[str, Any] = {
    "last_error_code": None,
    "last_error_subcode": None,
    "last_error_message": "",
    "last_fbtrace_id": "",
}


# ---------------------------------------------------------------- scheduling


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): exponential, capped, half jittered."""
    base = float(settings.PIPELINE_RETRY_BASE_S)
    ceiling = min(float(settings.PIPELINE_RETRY_CAP_S), base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def _enqueue_step(step: OnboardingStep, *, countdown: float = 0.0) -> None:
    from onboarding import tasks  # tasks import this module

    delay = min(max(countdown, 0.0), MAX_COUNTDOWN_S)
    task = tasks.STEP_TASKS[step.name]
    step_id = step.pk
    transaction.on_commit(lambda: task.apply_async((step_id,), countdown=delay), robust=True)


def _enqueue_advance(onboarding_id: int) -> None:
    from onboarding import tasks

    transaction.on_commit(lambda: tasks.onboarding_advance.delay(onboarding_id), robust=True)


def _due(step: OnboardingStep, now: datetime) -> bool:
    if step.status == StepStatus.PENDING:
        return True
    if step.status == StepStatus.WAITING:
        return step.next_attempt_at is None or step.next_attempt_at <= now
    if step.status == StepStatus.RUNNING:
        return step.lease_expires_at is None or step.lease_expires_at < now
    return False


def _current_step(onboarding: Onboarding) -> OnboardingStep | None:
    """The first step that is neither succeeded nor skipped."""
    return (
        onboarding.steps.exclude(status__in=_DONE)
        .select_related("onboarding__waba__tech_provider")
        .order_by("position")
        .first()
    )


# ---------------------------------------------------------------- entry points


def onboarding_advance(*, onboarding_id: int) -> None:
    """Enqueue the onboarding's current step if it is due (what signup and the sweeper call)."""
    onboarding = Onboarding.objects.select_related("waba").filter(pk=onboarding_id).first()
    if onboarding is None or onboarding.status not in _OPEN:
        return
    if onboarding.waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED:
        onboarding_stop_offboarded(onboarding_id=onboarding.pk)
        return
    step = _current_step(onboarding)
    if step is None:
        _complete(onboarding)
    elif _due(step, timezone.now()):
        _enqueue_step(step)


def onboarding_step_run(*, step_id: int, name: str) -> None:
    """Claim one step, run its service, and record what happened (the step tasks' body)."""
    step = (
        OnboardingStep.objects.select_related("onboarding__waba__tech_provider")
        .filter(pk=step_id, name=name)
        .first()
    )
    if step is None or step.onboarding.status not in _OPEN:
        return
    if step.onboarding.waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED:
        onboarding_stop_offboarded(onboarding_id=step.onboarding_id)
        return
    current = _current_step(step.onboarding)
    if current is None or current.pk != step.pk:
        return  # a stale message: an earlier step is not done, or this one is
    in_doubt = step.outcome_unknown
    owner = _claim(step)
    if owner is not None:
        _run(step, owner=owner, in_doubt=in_doubt)


def onboarding_sweep(*, limit: int = 500) -> int:
    """Re-enqueue onboardings with a due wait, an expired lease, or a lost message."""
    from onboarding import tasks

    now = timezone.now()
    due = OnboardingStep.objects.filter(onboarding__status__in=_OPEN).filter(
        Q(status=StepStatus.WAITING, next_attempt_at__lte=now)
        | Q(status=StepStatus.WAITING, next_attempt_at__isnull=True)
        | Q(status=StepStatus.RUNNING, lease_expires_at__lt=now)
    )
    stale = Onboarding.objects.filter(
        status__in=(Status.PENDING, Status.RUNNING),
        updated_at__lt=now - timedelta(seconds=settings.PIPELINE_STALE_S),
    ).exclude(steps__status__in=(StepStatus.RUNNING, StepStatus.WAITING))
    ids = set(due.values_list("onboarding_id", flat=True)[:limit])
    ids |= set(stale.values_list("id", flat=True)[:limit])
    for onboarding_id in sorted(ids):
        tasks.onboarding_advance.delay(onboarding_id)
    return len(ids)


@transaction.atomic
def onboarding_retry(*, onboarding: Onboarding, actor: str) -> Onboarding:
    """Resume a failed onboarding from its failed step (Retry API and admin action)."""
    onboarding = Onboarding.objects.select_for_update().select_related("waba").get(pk=onboarding.pk)
    if onboarding.waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED:
        raise InvalidTransition("This WABA is offboarded: submit a new Embedded Signup instead.")
    if onboarding.status != Status.FAILED:
        raise InvalidTransition(
            f"Only a failed onboarding can be retried; this one is {onboarding.status}."
        )
    for step in onboarding.steps.filter(status=StepStatus.FAILED):
        step_transition(
            step,
            to=StepStatus.PENDING,
            reason="Retry requested",
            actor=actor,
            attempts=0,
            next_attempt_at=None,
            note="",
            finished_at=None,
            **_CLEAR_ERROR,
        )
    onboarding_transition(
        onboarding, to=Status.PENDING, reason="Retry requested", actor=actor, failure_reason=""
    )
    _enqueue_advance(onboarding.pk)
    return onboarding


# ---------------------------------------------------------------- one attempt


def _claim(step: OnboardingStep) -> str | None:
    """Take the step's lease with a conditional UPDATE; None if it is not due or another won."""
    now = timezone.now()
    if not _due(step, now):
        return None
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]
    takeover = step.status == StepStatus.RUNNING
    reason = (
        f"Lease of {step.lease_owner} expired: attempt {step.attempts + 1} takes over"
        if takeover
        else f"Attempt {step.attempts + 1}"
    )
    claimed = step_transition(
        step,
        to=StepStatus.RUNNING,
        reason=reason,
        detail={"outcome_unknown": step.outcome_unknown} if step.outcome_unknown else {},
        where={"attempts": step.attempts},  # every claim bumps attempts: one winner per round
        attempts=step.attempts + 1,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=settings.PIPELINE_STEP_LEASE_S),
        next_attempt_at=None,
        started_at=now,
        outcome_unknown=True,  # until an answer says otherwise
    )
    if not claimed:
        return None
    _onboarding_to(step.onboarding_id, Status.RUNNING, reason=f"Running {step.name}")
    return owner


def _run(step: OnboardingStep, *, owner: str, in_doubt: bool) -> None:
    service = STEP_SERVICES[step.name]
    try:
        outcome = service(step=step, in_doubt=in_doubt)
    except GraphError as error:
        _on_graph_error(step, owner, error)
    except StepWait as wait:
        _wait(step, owner, until=wait.until, reason=wait.reason, fields={"outcome_unknown": False})
    except StepRetry as retry:
        _retry(step, owner, message=retry.message, fields={"outcome_unknown": False})
    except StepFailed as failed:
        _fail(
            step, owner, reason=f"{step.name}: {failed.reason}", fields={"outcome_unknown": False}
        )
    except SoftTimeLimitExceeded:
        _retry(step, owner, message="the step ran past its time limit", fields={})
    except Exception:
        logger.exception("step %s of onboarding %s crashed", step.name, step.onboarding_id)
        _retry(step, owner, message="an internal error (logged)", fields={})
    else:
        _succeed(step, owner, outcome)


def _error_fields(error: GraphError) -> dict[str, Any]:
    return {
        "last_error_code": error.code,
        "last_error_subcode": error.subcode,
        "last_error_message": error.message[:2000],
        "last_fbtrace_id": error.fbtrace_id[:64],
        "outcome_unknown": error.outcome_unknown,
    }


def _error_detail(error: GraphError) -> dict[str, Any]:
    return {
        "error": type(error).__name__,
        "code": error.code,
        "subcode": error.subcode,
        "http_status": error.status,
        "fbtrace_id": error.fbtrace_id,
        "message": error.message[:500],
    }


def _on_graph_error(step: OnboardingStep, owner: str, error: GraphError) -> None:
    fields = _error_fields(error)
    detail = _error_detail(error)
    if error.wait_long:
        until = timezone.now() + timedelta(seconds=error.wait_seconds or 3600)
        reason = failure_reason(step.name, error, token_owner=token_kind(step.onboarding.waba))
        _wait(step, owner, until=until, reason=reason, fields=fields, detail=detail)
    elif error.retryable:
        _retry(step, owner, message=f"Meta error {error}", fields=fields, detail=detail)
    else:
        reason = failure_reason(step.name, error, token_owner=token_kind(step.onboarding.waba))
        _fail(step, owner, reason=reason, fields=fields, detail=detail)


@transaction.atomic
def _succeed(step: OnboardingStep, owner: str, outcome: StepOutcome) -> None:
    now = timezone.now()
    moved = step_transition(
        step,
        to=StepStatus.SKIPPED if outcome.skipped else StepStatus.SUCCEEDED,
        reason=outcome.note or "Done",
        detail=outcome.result,
        where={"lease_owner": owner},
        result=outcome.result,
        note=outcome.note,
        outcome_unknown=False,
        lease_owner="",
        lease_expires_at=None,
        finished_at=now,
        **_CLEAR_ERROR,
    )
    if not moved:
        return
    following = _current_step(step.onboarding)
    if following is None:
        _complete(step.onboarding)
    else:
        _enqueue_step(following)


@transaction.atomic
def _retry(
    step: OnboardingStep,
    owner: str,
    *,
    message: str,
    fields: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    if step.attempts >= settings.PIPELINE_MAX_ATTEMPTS:
        reason = (
            f"{step.name}: still failing after {step.attempts} attempts ({message}). "
            "Retry once the cause is gone."
        )
        _fail(step, owner, reason=reason, fields=fields, detail=detail)
        return
    delay = retry_delay(step.attempts)
    until = timezone.now() + timedelta(seconds=delay)
    _wait(
        step,
        owner,
        until=until,
        reason=f"Retry in {delay:.1f} s: {message}",
        fields=fields,
        detail=detail,
    )


@transaction.atomic
def _wait(
    step: OnboardingStep,
    owner: str,
    *,
    until: datetime,
    reason: str,
    fields: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    moved = step_transition(
        step,
        to=StepStatus.WAITING,
        reason=reason,
        detail={**(detail or {}), "next_attempt_at": until.isoformat()},
        where={"lease_owner": owner},
        next_attempt_at=until,
        lease_owner="",
        lease_expires_at=None,
        **fields,
    )
    if not moved:
        return
    _onboarding_to(step.onboarding_id, Status.WAITING, reason=f"{step.name}: {reason}")
    countdown = (until - timezone.now()).total_seconds()
    if countdown <= MAX_COUNTDOWN_S:
        _enqueue_step(step, countdown=countdown)
    # else: the sweeper enqueues it once next_attempt_at has passed


@transaction.atomic
def _fail(
    step: OnboardingStep,
    owner: str,
    *,
    reason: str,
    fields: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    moved = step_transition(
        step,
        to=StepStatus.FAILED,
        reason=reason,
        detail=detail,
        where={"lease_owner": owner},
        note=reason,
        lease_owner="",
        lease_expires_at=None,
        finished_at=timezone.now(),
        **fields,
    )
    if not moved:
        return
    if _onboarding_to(step.onboarding_id, Status.FAILED, reason=reason, failure_reason=reason):
        waba = WhatsAppBusinessAccount.objects.get(pk=step.onboarding.waba_id)
        tech_provider_event_record(
            tech_provider=waba.tech_provider,
            waba=waba,
            event_type=WABA_ONBOARDING_FAILED,
            payload={**waba_event_payload(waba), "step": step.name, "reason": reason},
        )


def _complete(onboarding: Onboarding) -> None:
    _onboarding_to(
        onboarding.pk, Status.ACTIVE, reason="Every step is done", completed_at=timezone.now()
    )


def onboarding_stop_offboarded(*, onboarding_id: int) -> None:
    """Stop an unfinished onboarding whose WABA was offboarded (fails it with that reason)."""
    reason = "The WABA was offboarded before its onboarding finished."
    _onboarding_to(onboarding_id, Status.FAILED, reason=reason, failure_reason=reason)


@transaction.atomic
def _onboarding_to(onboarding_id: int, to: str, *, reason: str, **fields: Any) -> bool:
    """Move the onboarding to `to` unless it is there already; False when it did not move."""
    onboarding = Onboarding.objects.select_for_update().get(pk=onboarding_id)
    if onboarding.status == to:
        return False
    try:
        return onboarding_transition(onboarding, to=to, reason=reason, **fields)
    except InvalidTransition:
        logger.warning("onboarding %s: no move from %s to %s", onboarding_id, onboarding.status, to)
        return False
