"""Resuming a failed onboarding from its failed step: the service, the API, the admin action."""

from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from onboarding.models import Onboarding, OnboardingStep, PhoneNumber, WhatsAppBusinessAccount
from onboarding.services import pipeline
from tests.conftest import Account

from .conftest import (
    PHONE_ID,
    WABA_ID,
    FakeMeta,
    Published,
    Step,
    StepStatus,
    drive,
    graph_url,
    make_onboarding,
)

REGISTER = f"{PHONE_ID}/register"


def _failed_at_register(meta: FakeMeta, onboarding: Onboarding) -> Onboarding:
    meta.subscribe()
    meta.credit()
    meta.fail("POST", REGISTER, 133005)
    drive(onboarding)
    assert onboarding.status == Onboarding.Status.FAILED
    return onboarding


def _retry_url(account: Account, waba_id: str = WABA_ID) -> str:
    return account.url(f"WhatsApp/EmbeddedSignup/{waba_id}/Retry/")


def test_retry_resumes_from_the_failed_step_with_the_same_pin(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    _failed_at_register(meta, onboarding)
    pipeline.onboarding_retry(onboarding=onboarding, actor="test")
    register = onboarding.steps.get(name=Step.REGISTER_PHONE_NUMBER)
    assert (register.status, register.attempts, register.last_error_code) == ("pending", 0, None)
    assert onboarding.steps.get(name=Step.SUBSCRIBE_WEBHOOKS).status == StepStatus.SUCCEEDED
    meta.mock.replace("POST", graph_url(REGISTER), json={"success": True})
    meta.phone()
    drive(onboarding)
    assert onboarding.status == Onboarding.Status.ACTIVE
    assert meta.count("POST", f"{WABA_ID}/subscribed_apps") == 2  # not redone
    pins = {c.request.body for c in meta.calls("POST", REGISTER)}
    assert len(pins) == 1
    assert PhoneNumber.objects.get().registration == PhoneNumber.Registration.REGISTERED


def test_the_retry_api_answers_with_the_resumed_onboarding(
    meta: FakeMeta, onboarding: Onboarding, api: APIClient, account: Account
) -> None:
    _failed_at_register(meta, onboarding)
    response = api.post(_retry_url(account))
    assert response.status_code == 200
    body = response.json()
    assert body["api_id"]
    assert body["message"].startswith("Retry accepted")
    assert body["waba_id"] == WABA_ID
    assert body["status"] == WhatsAppBusinessAccount.Status.ONBOARDING
    assert body["onboarding"]["status"] == "pending"
    assert body["onboarding"]["failure_reason"] == ""
    steps = {s["name"]: s for s in body["onboarding"]["steps"]}
    assert steps["register_phone_number"]["status"] == "pending"
    retry_row = body["onboarding"]["events"][-1]
    assert (retry_row["to_status"], retry_row["reason"]) == ("pending", "Retry requested")
    assert retry_row["actor"] == f"api:{account.auth_id}"


def test_the_retry_api_enqueues_the_pipeline_on_commit(
    meta: FakeMeta,
    onboarding: Onboarding,
    api: APIClient,
    account: Account,
    broker: list[Published],
    on_commit: Any,
) -> None:
    _failed_at_register(meta, onboarding)
    with on_commit():
        api.post(_retry_url(account))
    assert [(m.task, m.args) for m in broker] == [
        ("onboarding.onboarding_advance", (onboarding.pk,))
    ]


def test_retrying_an_onboarding_that_did_not_fail_is_a_clear_409(
    onboarding: Onboarding, api: APIClient, account: Account
) -> None:
    response = api.post(_retry_url(account))
    assert response.status_code == 409
    assert response.json()["error"] == (
        "Only a failed onboarding can be retried; this one is pending."
    )
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.PENDING


def test_another_tech_providers_waba_answers_like_a_missing_one(
    meta: FakeMeta, onboarding: Onboarding, other_account: Account
) -> None:
    _failed_at_register(meta, onboarding)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=other_account.basic)
    theirs = client.post(_retry_url(other_account))
    missing = client.post(_retry_url(other_account, "999999999999"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"] == missing.json()["error"]
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED


def test_the_retry_api_needs_authentication(onboarding: Onboarding, account: Account) -> None:
    assert APIClient().post(_retry_url(account)).status_code == 401


def test_the_retry_api_refuses_get(
    onboarding: Onboarding, api: APIClient, account: Account
) -> None:
    assert api.get(_retry_url(account)).status_code == 405


def test_an_offboarded_waba_cannot_be_retried(
    onboarding: Onboarding, api: APIClient, account: Account
) -> None:
    Onboarding.objects.filter(pk=onboarding.pk).update(status="failed")
    WhatsAppBusinessAccount.objects.filter(waba_id=WABA_ID).update(status="offboarded")
    response = api.post(_retry_url(account))
    assert response.status_code == 409
    assert "offboarded" in response.json()["error"]


def _staff_client() -> Client:
    user = User.objects.create_superuser("ann", "ann@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_action_retries_failed_onboardings_and_explains_others(
    meta: FakeMeta, account: Account
) -> None:
    failed = _failed_at_register(meta, make_onboarding(account))
    running = make_onboarding(account, waba_id="104996789012399", phone_number_id="1069999000099")
    response = _staff_client().post(
        "/admin/onboarding/onboarding/",
        {"action": "retry_from_failed_step", "_selected_action": [failed.pk, running.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == Onboarding.Status.PENDING
    assert failed.events.last().actor == "staff:ann"  # type: ignore[union-attr]
    text = response.content.decode()
    assert "Retrying 1 onboarding(s)" in text
    assert "Only a failed onboarding can be retried; this one is pending." in text


def test_the_waba_admin_also_offers_retry(meta: FakeMeta, onboarding: Onboarding) -> None:
    _failed_at_register(meta, onboarding)
    _staff_client().post(
        "/admin/onboarding/whatsappbusinessaccount/",
        {"action": "retry_onboarding", "_selected_action": [onboarding.waba_id]},
    )
    assert (
        OnboardingStep.objects.get(onboarding=onboarding, name=Step.REGISTER_PHONE_NUMBER).status
        == "pending"
    )
