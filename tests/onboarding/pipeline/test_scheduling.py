"""What goes to the broker: ids only, on commit, never a countdown or eta over 300 s;
the sweeper; the Celery settings the pipeline relies on."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from config.celery import app
from onboarding import tasks
from onboarding.models import Onboarding, OnboardingStep, RegistrationCall
from onboarding.services import pipeline

from .conftest import (
    PHONE_ID,
    FakeMeta,
    Published,
    Step,
    StepStatus,
    make_due,
    make_onboarding,
    run_step,
    step_of,
)

REGISTER = f"{PHONE_ID}/register"
MAX = 300


def _assert_short(published: list[Published]) -> None:
    for message in published:
        assert message.eta is None, message
        assert message.countdown is None or 0 <= message.countdown <= MAX, message
        assert all(isinstance(arg, int) for arg in message.args), message  # ids only


def test_a_successful_step_enqueues_the_next_with_its_id_only(
    meta: FakeMeta, onboarding: Onboarding, broker: list[Published], on_commit: Any
) -> None:
    meta.subscribe()
    with on_commit():
        run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    (message,) = broker
    assert message.task == "onboarding.waba_credit_line_share"
    assert message.args == (step_of(onboarding, Step.SHARE_CREDIT_LINE).pk,)


def test_a_retry_is_enqueued_with_its_backoff_as_countdown(
    meta: FakeMeta, onboarding: Onboarding, broker: list[Published], on_commit: Any
) -> None:
    meta.fail("POST", f"{onboarding.waba.waba_id}/subscribed_apps", 2, status=503)
    with on_commit():
        step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    (message,) = broker
    assert message.task == "onboarding.waba_webhooks_subscribe"
    assert step.next_attempt_at is not None
    expected = (step.next_attempt_at - timezone.now()).total_seconds()
    assert message.countdown == pytest.approx(expected, abs=1)


def test_nothing_schedules_a_countdown_or_eta_over_300_seconds(
    meta: FakeMeta,
    account: Any,
    broker: list[Published],
    on_commit: Any,
    settings: Any,
) -> None:
    """Every path that schedules: success, retries up to the cap, wait-long codes, our own
    register limit, a misconfigured cap far above 300 s, takeovers and the sweeper."""
    settings.PIPELINE_MAX_ATTEMPTS = 50
    onboarding = make_onboarding(account)
    meta.subscribe()
    meta.credit()
    with on_commit():
        run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
        run_step(onboarding, Step.SHARE_CREDIT_LINE)
    meta.fail("POST", REGISTER, 2, status=503, times=8)  # backoff up to 128-256 s
    meta.fail("POST", REGISTER, 133016)
    for _ in range(9):  # then a 72-hour wait
        with on_commit():
            step = run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
        make_due(step)
    assert step.last_error_code == 133016
    settings.PIPELINE_RETRY_CAP_S = 24 * 3600  # a cap far above the broker limit
    OnboardingStep.objects.filter(pk=step.pk).update(attempts=20)
    meta.fail("POST", REGISTER, 2, status=503)
    with on_commit():
        run_step(onboarding, Step.REGISTER_PHONE_NUMBER)
    phone = onboarding.waba.phone_numbers.get()
    RegistrationCall.objects.bulk_create(
        [RegistrationCall(phone_number=phone, action="register") for _ in range(10)]
    )
    make_due(step_of(onboarding, Step.REGISTER_PHONE_NUMBER))
    with on_commit():
        run_step(onboarding, Step.REGISTER_PHONE_NUMBER)  # our own 72-hour wait
        OnboardingStep.objects.filter(pk=step.pk).update(
            status=StepStatus.RUNNING, lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        pipeline.onboarding_sweep()
        pipeline.onboarding_advance(onboarding_id=onboarding.pk)
    assert len(broker) >= 12
    assert max(m.countdown or 0 for m in broker) > 100  # the cap was really reached
    _assert_short(broker)


def test_the_sweeper_enqueues_due_waits_and_expired_leases_only(
    account: Any, broker: list[Published]
) -> None:
    now = timezone.now()
    due, not_due, expired, live, stale, fresh, failed = (
        make_onboarding(account, waba_id=f"10000000000000{i}", phone_number_id=f"20000000000{i}")
        for i in range(7)
    )
    first = Step.SUBSCRIBE_WEBHOOKS
    OnboardingStep.objects.filter(onboarding=due, name=first).update(
        status="waiting", next_attempt_at=now - timedelta(seconds=1)
    )
    OnboardingStep.objects.filter(onboarding=not_due, name=first).update(
        status="waiting", next_attempt_at=now + timedelta(hours=72)
    )
    OnboardingStep.objects.filter(onboarding=expired, name=first).update(
        status="running", lease_expires_at=now - timedelta(seconds=1)
    )
    OnboardingStep.objects.filter(onboarding=live, name=first).update(
        status="running", lease_expires_at=now + timedelta(seconds=60)
    )
    Onboarding.objects.filter(pk=stale.pk).update(updated_at=now - timedelta(minutes=5))
    Onboarding.objects.filter(pk=failed.pk).update(
        status="failed", updated_at=now - timedelta(minutes=5)
    )
    Onboarding.objects.exclude(pk__in=[stale.pk, failed.pk]).update(updated_at=now)
    assert pipeline.onboarding_sweep() == 3
    swept = sorted(m.args[0] for m in broker)
    assert swept == sorted([due.pk, expired.pk, stale.pk])
    assert {m.task for m in broker} == {"onboarding.onboarding_advance"}
    assert fresh.pk not in swept


def test_advance_enqueues_the_current_step_only_when_due(
    account: Any, broker: list[Published], on_commit: Any
) -> None:
    onboarding = make_onboarding(account)
    with on_commit():
        pipeline.onboarding_advance(onboarding_id=onboarding.pk)
    (message,) = broker
    assert message.task == "onboarding.waba_webhooks_subscribe"
    OnboardingStep.objects.filter(onboarding=onboarding, name=Step.SUBSCRIBE_WEBHOOKS).update(
        status="waiting", next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    with on_commit():
        pipeline.onboarding_advance(onboarding_id=onboarding.pk)
    assert len(broker) == 1


def test_the_sweeper_runs_on_celery_beat() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["onboarding-sweep"]
    assert entry["task"] == "onboarding.onboarding_sweep"
    assert 0 < float(str(entry["schedule"])) <= 60
    assert entry["task"] in app.tasks


def test_every_step_has_its_own_registered_task() -> None:
    assert set(tasks.STEP_TASKS) == set(Step.values)
    names = {task.name for task in tasks.STEP_TASKS.values()}
    assert len(names) == 5
    assert names <= set(app.tasks)


def test_the_celery_settings_the_pipeline_relies_on() -> None:
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.task_serializer == "json"
    # a lease must outlive the hard time limit, or a live task could be taken over
    assert conf.task_time_limit < django_settings.PIPELINE_STEP_LEASE_S
    # a broker countdown must be shorter than the Redis visibility timeout
    visibility = conf.broker_transport_options.get("visibility_timeout", 3600)
    assert visibility > MAX


def test_the_published_message_holds_no_secret(
    account: Any, broker: list[Published], on_commit: Any
) -> None:
    onboarding = make_onboarding(account)
    with on_commit():
        pipeline.onboarding_advance(onboarding_id=onboarding.pk)
    assert json.dumps([m.args for m in broker]) == json.dumps(
        [[step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS).pk]]
    )
