"""Two workers never run one step: the claim is a conditional UPDATE, a lease, a takeover."""

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from onboarding.models import Onboarding, OnboardingStep
from onboarding.services import pipeline

from .conftest import (
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    graph_url,
    make_onboarding,
    run_step,
    step_of,
)


def test_two_claims_of_one_step_have_one_winner(onboarding: Onboarding) -> None:
    first = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    second = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    owners = [pipeline._claim(first), pipeline._claim(second)]
    assert owners[0] is not None
    assert owners[1] is None
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert (step.status, step.attempts, step.lease_owner) == ("running", 1, owners[0])


def test_a_step_under_a_live_lease_is_left_alone(meta: FakeMeta, onboarding: Onboarding) -> None:
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert pipeline._claim(step)
    run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert meta.count() == 0
    assert step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS).attempts == 1


def test_an_expired_lease_is_taken_over_and_the_step_is_in_doubt(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    dead_owner = pipeline._claim(step)  # a worker that then died
    OnboardingStep.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    meta.subscribe()
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.SUCCEEDED
    assert step.attempts == 2
    takeover = onboarding.events.filter(step=Step.SUBSCRIBE_WEBHOOKS, from_status="running").first()
    assert takeover is not None
    assert f"Lease of {dead_owner} expired" in takeover.reason
    assert meta.calls()[0].request.method == "GET"  # looked first: the dead attempt may have run
    assert meta.count("POST") == 0


def test_a_late_worker_cannot_record_over_the_one_that_took_over(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    slow_owner = pipeline._claim(step)
    assert slow_owner is not None
    OnboardingStep.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    meta.subscribe()
    run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)  # the new worker finishes it
    from onboarding.services.outcomes import StepOutcome

    pipeline._succeed(step, slow_owner, StepOutcome(result={"late": True}))
    assert step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS).result.get("late") is None


def test_a_message_for_a_later_step_waits_for_the_earlier_one(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.everything()
    step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    assert step.status == StepStatus.PENDING
    assert meta.count() == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite locks the whole table: no real race"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_run_a_step_once(account: Any, meta: FakeMeta, broker: Any) -> None:
    """Eight threads (eight DB connections) deliver the same step at once: one POST pair."""
    onboarding = make_onboarding(account)
    step = step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS)

    def slow_success(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.2)
        return 200, {}, '{"success": true}'

    meta.mock.add_callback("POST", graph_url(f"{WABA_ID}/subscribed_apps"), slow_success)
    meta.subscribe()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            pipeline.onboarding_step_run(step_id=step.pk, name=step.name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    step.refresh_from_db()
    assert (step.status, step.attempts) == (StepStatus.SUCCEEDED, 1)
    assert meta.count("POST", f"{WABA_ID}/subscribed_apps") == 2
