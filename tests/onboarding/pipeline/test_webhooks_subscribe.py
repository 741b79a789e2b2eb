"""Step 1, subscribe our app and point the WABA's webhooks at its own callback URL."""

import json
from typing import Any

import requests

from onboarding.models import Onboarding, WhatsAppBusinessAccount
from onboarding.services.waba_webhooks import waba_webhooks_subscribe

from .conftest import (
    APP_ID,
    CALLBACK,
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    graph_url,
    make_due,
    raw_column,
    run_step,
    step_of,
)

SUBSCRIBED_APPS = f"{WABA_ID}/subscribed_apps"


def test_first_run_subscribes_then_overrides_then_confirms(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.subscribe()
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.SUCCEEDED
    assert step.result == {"app_id": APP_ID, "callback_uri": CALLBACK, "app_subscribed": True}
    assert meta.count("POST", SUBSCRIBED_APPS) == 2
    assert meta.count("GET", SUBSCRIBED_APPS) == 1


def test_the_verify_token_is_made_once_stored_encrypted_and_sent(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.subscribe()
    run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    waba = WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)
    token = waba.webhook_verify_token
    assert len(token) == 40
    assert token not in raw_column("onboarding_whatsappbusinessaccount", "webhook_verify_token")
    sent = json.loads(meta.calls("POST", SUBSCRIBED_APPS)[1].request.body)
    assert sent == {"override_callback_uri": CALLBACK, "verify_token": token}


def test_a_rerun_after_success_makes_no_graph_call(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.subscribe()
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    before = meta.count()
    run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)  # the runner: a succeeded step is not due
    outcome = waba_webhooks_subscribe(step=step, in_doubt=True)  # the service itself
    assert meta.count() == before
    assert outcome.result["callback_uri"] == CALLBACK


def test_in_doubt_an_override_already_in_place_is_taken_as_done(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.subscribe()
    outcome = waba_webhooks_subscribe(
        step=step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS), in_doubt=True
    )
    assert outcome.result["callback_uri"] == CALLBACK
    assert meta.count("POST", SUBSCRIBED_APPS) == 0
    assert meta.count("GET", SUBSCRIBED_APPS) == 1


def test_in_doubt_a_subscribed_app_without_override_gets_only_the_override(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.get(
        graph_url(SUBSCRIBED_APPS), json={"data": [{"whatsapp_business_api_data": {"id": APP_ID}}]}
    )
    meta.subscribe()  # the second GET lists the override
    waba_webhooks_subscribe(step=step_of(onboarding, Step.SUBSCRIBE_WEBHOOKS), in_doubt=True)
    (post,) = meta.calls("POST", SUBSCRIBED_APPS)
    assert json.loads(post.request.body)["override_callback_uri"] == CALLBACK


def test_a_retryable_error_on_the_override_does_not_subscribe_twice(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(graph_url(SUBSCRIBED_APPS), json={"success": True})
    meta.fail("POST", SUBSCRIBED_APPS, 2, status=503)
    meta.subscribe()
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.WAITING
    assert step.last_error_code == 2
    assert step.result == {"app_subscribed": True}
    assert step.next_attempt_at is not None
    make_due(step)
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.SUCCEEDED
    bodies = [c.request.body for c in meta.calls("POST", SUBSCRIBED_APPS)]
    assert bodies[0] is None
    assert all(b is not None for b in bodies[1:])  # only the override was retried
    assert meta.count("POST", SUBSCRIBED_APPS) == 3


def test_an_unconfirmed_override_is_retried(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.subscribe(override="")
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.WAITING
    assert "does not list our app" in step.onboarding.events.last().reason  # type: ignore[union-attr]


def test_a_permanent_error_fails_with_metas_error(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.mock.post(graph_url(SUBSCRIBED_APPS), json={"success": True})
    meta.fail("POST", SUBSCRIBED_APPS, 100)
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.FAILED
    assert (step.last_error_code, step.last_fbtrace_id) == (100, "TRACE100")
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED
    assert onboarding.failure_reason.startswith("subscribe_webhooks: Meta error 100")


def test_a_network_error_leaves_the_outcome_unknown_and_the_next_attempt_looks_first(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(graph_url(SUBSCRIBED_APPS), body=requests.ConnectionError("reset"))
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.WAITING
    assert step.outcome_unknown
    meta.mock.replace("POST", graph_url(SUBSCRIBED_APPS), json={"success": True})
    meta.subscribe()
    make_due(step)
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.SUCCEEDED
    assert not step.outcome_unknown
    first_after = [c.request.method for c in meta.calls()][1]
    assert first_after == "GET"  # looked before acting


def test_a_callback_url_over_200_characters_fails_clearly(
    meta: FakeMeta, onboarding: Onboarding, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://platform.test/" + "x" * 200
    step = run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    assert step.status == StepStatus.FAILED
    assert "200 characters" in step.note
    assert meta.count() == 0
