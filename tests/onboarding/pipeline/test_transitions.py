"""The state machine: every allowed and illegal move, conditional updates, audit rows."""

import itertools

import pytest

from onboarding.errors import InvalidTransition
from onboarding.models import (
    ONBOARDING_TRANSITIONS,
    STEP_TRANSITIONS,
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    WhatsAppBusinessAccount,
)
from onboarding.services.transitions import onboarding_transition, step_transition

from .conftest import Step, step_of

STEP_STATUSES = OnboardingStep.Status.values
ONBOARDING_STATUSES = Onboarding.Status.values


def test_the_tables_name_every_status_and_only_known_ones() -> None:
    assert set(STEP_TRANSITIONS) == set(STEP_STATUSES)
    assert set(ONBOARDING_TRANSITIONS) == set(ONBOARDING_STATUSES)
    for targets in STEP_TRANSITIONS.values():
        assert targets <= set(STEP_STATUSES)
    for targets in ONBOARDING_TRANSITIONS.values():
        assert targets <= set(ONBOARDING_STATUSES)


@pytest.mark.parametrize(("current", "to"), list(itertools.product(STEP_STATUSES, repeat=2)))
def test_step_moves_follow_the_table(onboarding: Onboarding, current: str, to: str) -> None:
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    OnboardingStep.objects.filter(pk=step.pk).update(status=current)
    step.status = current
    if to in STEP_TRANSITIONS[current]:
        assert step_transition(step, to=to, reason="test")
        step.refresh_from_db()
        assert step.status == to
    else:
        with pytest.raises(InvalidTransition, match=f"from {current} to {to}"):
            step_transition(step, to=to)
        step.refresh_from_db()
        assert step.status == current


@pytest.mark.parametrize(("current", "to"), list(itertools.product(ONBOARDING_STATUSES, repeat=2)))
def test_onboarding_moves_follow_the_table(onboarding: Onboarding, current: str, to: str) -> None:
    Onboarding.objects.filter(pk=onboarding.pk).update(status=current)
    onboarding.status = current
    if to in ONBOARDING_TRANSITIONS[current]:
        assert onboarding_transition(onboarding, to=to)
        onboarding.refresh_from_db()
        assert onboarding.status == to
    else:
        with pytest.raises(InvalidTransition):
            onboarding_transition(onboarding, to=to)


def test_a_move_writes_one_audit_row_with_metas_ids(onboarding: Onboarding) -> None:
    step = step_of(onboarding, Step.REGISTER_PHONE_NUMBER)
    before = OnboardingEvent.objects.count()
    step_transition(
        step,
        to="running",
        reason="Attempt 1",
        detail={"code": 2, "fbtrace_id": "T1"},
        actor="staff:ann",
    )
    assert OnboardingEvent.objects.count() == before + 1
    event = OnboardingEvent.objects.last()
    assert event is not None
    assert (event.step, event.from_status, event.to_status) == (
        "register_phone_number",
        "pending",
        "running",
    )
    assert (event.reason, event.actor) == ("Attempt 1", "staff:ann")
    assert event.detail == {"code": 2, "fbtrace_id": "T1"}


def test_a_stale_copy_loses_and_writes_nothing(onboarding: Onboarding) -> None:
    first = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    second = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step_transition(first, to="running")
    events = OnboardingEvent.objects.count()
    assert not step_transition(second, to="running")  # it saw "pending", which is gone
    assert OnboardingEvent.objects.count() == events


def test_a_move_guarded_by_a_lease_needs_that_lease(onboarding: Onboarding) -> None:
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    step_transition(step, to="running", lease_owner="worker-a")
    assert not step_transition(step, to="succeeded", where={"lease_owner": "worker-b"})
    assert step_transition(step, to="succeeded", where={"lease_owner": "worker-a"})


def test_the_waba_follows_a_failed_and_a_retried_onboarding(onboarding: Onboarding) -> None:
    onboarding_transition(onboarding, to="failed", failure_reason="x")
    assert onboarding.waba.__class__.objects.get(pk=onboarding.waba_id).status == "failed"
    onboarding_transition(onboarding, to="pending")
    assert WhatsAppBusinessAccount.objects.get(pk=onboarding.waba_id).status == "onboarding"


def test_an_offboarded_waba_stays_offboarded(onboarding: Onboarding) -> None:
    WhatsAppBusinessAccount.objects.filter(pk=onboarding.waba_id).update(status="offboarded")
    onboarding_transition(onboarding, to="failed")
    assert WhatsAppBusinessAccount.objects.get(pk=onboarding.waba_id).status == "offboarded"
