"""Idempotency-Key on EmbeddedSignup: replay, conflict, in-flight and expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from onboarding.models import IdempotencyKey, Onboarding, PhoneNumber, WhatsAppBusinessAccount

pytestmark = pytest.mark.django_db

VALID = {
    "waba_id": "104996789012345",
    "business_id": "203456789012345",
    "phone_number_id": "1069999000001",
}


def post(api, account, body, key="key-1"):
    return api.post(account.url(), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_first_response(api, account):
    first = post(api, account, VALID)
    second = post(api, account, VALID)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Onboarding.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(api, account):
    post(api, account, VALID)
    response = post(api, account, {**VALID, "reference": "changed"})
    assert response.status_code == 422
    assert (
        response.json()["error"]
        == "This Idempotency-Key was already used with a different request."
    )
    assert WhatsAppBusinessAccount.objects.get().reference == ""


def test_without_a_key_a_retry_is_refused_as_already_registered(api, account):
    assert api.post(account.url(), VALID, format="json").status_code == 200
    assert api.post(account.url(), VALID, format="json").status_code == 400


def test_keys_are_per_tech_provider(api, account, other_account):
    from rest_framework.test import APIClient

    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    assert post(api, account, VALID).status_code == 200
    response = other.post(
        other_account.url(),
        {**VALID, "waba_id": "9999999"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert response.status_code == 400  # its own key: the request ran (and hit the number conflict)
    assert response.json()["error"] == "This phone number is already registered under another WABA."


def test_a_request_still_in_flight_gets_409(api, account):
    IdempotencyKey.objects.create(
        tech_provider=account.tech_provider,
        key="key-1",
        method="POST",
        path=account.url(),
        request_hash="whatever",
    )
    IdempotencyKey.objects.update(request_hash=_hash_of(api, account))
    response = post(api, account, VALID)
    assert response.status_code == 409
    assert "still in progress" in response.json()["error"]
    assert not WhatsAppBusinessAccount.objects.exists()


def _hash_of(api, account):
    post(api, account, VALID, key="probe")
    probe = IdempotencyKey.objects.get(key="probe")
    Onboarding.objects.all().delete()
    PhoneNumber.objects.all().delete()
    WhatsAppBusinessAccount.objects.all().delete()
    return probe.request_hash


def test_keys_expire_after_24_hours(api, account):
    post(api, account, VALID)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = post(api, account, VALID)
    assert response.status_code == 400  # executed again, not replayed
    assert "Idempotent-Replayed" not in response


def test_a_failed_validation_is_not_stored(api, account):
    assert post(api, account, {}).status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert post(api, account, VALID).status_code == 200


def test_an_overlong_key_is_refused(api, account):
    response = post(api, account, VALID, key="k" * 256)
    assert response.status_code == 400
    assert response.json()["error"] == "Idempotency-Key must be at most 255 characters."
