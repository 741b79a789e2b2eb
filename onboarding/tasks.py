"""Celery tasks of onboarding: thin, database ids in, one service call each.

Each pipeline step has its own task (visible and routable on its own); the step's state lives
in PostgreSQL, so a task only names the step and the service decides whether it is due.
"""

from celery import Task, shared_task

from onboarding.models import OnboardingStep
from onboarding.services import pipeline, reconciliation

Step = OnboardingStep.Name


@shared_task(name="onboarding.onboarding_advance")
def onboarding_advance(onboarding_id: int) -> None:
    """Enqueue the onboarding's current step if it is due."""
    pipeline.onboarding_advance(onboarding_id=onboarding_id)


@shared_task(name="onboarding.waba_webhooks_subscribe")
def waba_webhooks_subscribe(step_id: int) -> None:
    """Subscribe our app to the WABA's webhooks and point them at its callback URL."""
    pipeline.onboarding_step_run(step_id=step_id, name=Step.SUBSCRIBE_WEBHOOKS)


@shared_task(name="onboarding.waba_credit_line_share")
def waba_credit_line_share(step_id: int) -> None:
    """Share our credit line with the WABA and verify it."""
    pipeline.onboarding_step_run(step_id=step_id, name=Step.SHARE_CREDIT_LINE)


@shared_task(name="onboarding.phone_number_register")
def phone_number_register(step_id: int) -> None:
    """Register the WABA's phone number with its stored PIN."""
    pipeline.onboarding_step_run(step_id=step_id, name=Step.REGISTER_PHONE_NUMBER)


@shared_task(name="onboarding.phone_number_fetch")
def phone_number_fetch(step_id: int) -> None:
    """Read the phone number's details back from Meta."""
    pipeline.onboarding_step_run(step_id=step_id, name=Step.FETCH_PHONE_NUMBER)


@shared_task(name="onboarding.waba_activate")
def waba_activate(step_id: int) -> None:
    """Mark the WABA active and record the event for its Tech Provider."""
    pipeline.onboarding_step_run(step_id=step_id, name=Step.ACTIVATE)


@shared_task(name="onboarding.onboarding_sweep")
def onboarding_sweep() -> None:
    """Periodic (celery beat): re-enqueue due waits, expired leases and lost nudges."""
    pipeline.onboarding_sweep()


@shared_task(name="onboarding.wabas_reconcile")
def wabas_reconcile() -> None:
    """Periodic (celery beat): queue a reconciliation of every active WABA."""
    reconciliation.wabas_reconcile_enqueue()


@shared_task(name="onboarding.waba_reconcile")
def waba_reconcile(waba_pk: int) -> None:
    """Check one WABA at Meta for drift from what onboarding left."""
    reconciliation.waba_reconcile(waba_pk=waba_pk)


STEP_TASKS: dict[str, Task] = {  # type: ignore[type-arg]
    Step.SUBSCRIBE_WEBHOOKS: waba_webhooks_subscribe,
    Step.SHARE_CREDIT_LINE: waba_credit_line_share,
    Step.REGISTER_PHONE_NUMBER: phone_number_register,
    Step.FETCH_PHONE_NUMBER: phone_number_fetch,
    Step.ACTIVATE: waba_activate,
}
