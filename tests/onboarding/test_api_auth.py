"""Basic auth of the /v1/ API: one 401 for every failure, the path's auth_id, and throttling."""

import base64
import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from onboarding.services.tech_providers import tech_provider_rotate_token
from tests.conftest import Account

pytestmark = pytest.mark.django_db

AUTH_FAILED = "Authentication failed: check your Auth ID and Auth Token."


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def failing_headers(account: Account, other: Account) -> dict[str, str | None]:
    return {
        "missing": None,
        "empty": "",
        "bearer": f"Bearer {account.auth_token}",
        "not base64": "Basic !!!notbase64!!!",
        "no colon": "Basic " + base64.b64encode(account.auth_id.encode()).decode(),
        "non-utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "wrong token": basic(account.auth_id, "x" * 40),
        "token of another account": basic(account.auth_id, other.auth_token),
        "unknown auth_id": basic("MA" + "Z" * 18, account.auth_token),
        "malformed auth_id": basic("SA123", account.auth_token),
        "valid credentials of another account": other.basic,
    }


def get(headers: str | None, account: Account):
    client = APIClient()
    if headers is not None:
        client.credentials(HTTP_AUTHORIZATION=headers)
    return client.get(account.url())


def test_every_authentication_failure_gets_the_same_401(account, other_account):
    bodies = set()
    for case, header in failing_headers(account, other_account).items():
        response = get(header, account)
        assert response.status_code == 401, case
        assert response["WWW-Authenticate"] == 'Basic realm="api"', case
        body = response.json()
        assert set(body) == {"api_id", "error"}, case
        # Bytes are identical but for the per-request api_id (a UUID of fixed length).
        bodies.add(response.content.replace(body["api_id"].encode(), b"<api_id>"))
    assert bodies == {
        json.dumps({"api_id": "<api_id>", "error": AUTH_FAILED}, separators=(",", ":")).encode()
    }


def test_an_unknown_auth_id_in_the_path_is_a_401(account):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=account.basic)
    response = client.get("/v1/Account/MAZZZZZZZZZZZZZZZZZZ/WhatsApp/EmbeddedSignup/")
    assert response.status_code == 401
    assert response.json()["error"] == AUTH_FAILED


def test_the_right_credentials_are_accepted(api, account):
    assert api.get(account.url()).status_code == 200


def test_a_rotated_token_replaces_the_old_one_at_once(account):
    issued = tech_provider_rotate_token(tech_provider=account.tech_provider)
    assert get(account.basic, account).status_code == 401
    assert get(basic(account.auth_id, issued.auth_token), account).status_code == 200


def test_an_inactive_account_cannot_authenticate(account):
    account.tech_provider.is_active = False
    account.tech_provider.save()
    assert get(account.basic, account).status_code == 401


@override_settings(API_AUTH_FAILURE_LIMIT=3, API_AUTH_FAILURE_WINDOW_S=600)
def test_repeated_failures_for_one_auth_id_are_throttled_even_for_the_right_token(
    account, other_account
):
    wrong = basic(account.auth_id, "y" * 40)
    assert [get(wrong, account).status_code for _ in range(3)] == [401, 401, 401]
    throttled = get(wrong, account)
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 600
    assert throttled.json()["error"].startswith("Too many failed authentication attempts.")
    assert get(account.basic, account).status_code == 429
    assert get(other_account.basic, other_account).status_code == 200


@override_settings(API_AUTH_FAILURE_LIMIT=3, API_AUTH_FAILURE_WINDOW_S=600)
def test_successes_do_not_count_towards_the_throttle(account):
    for _ in range(10):
        assert get(account.basic, account).status_code == 200


@override_settings(API_AUTH_FAILURE_LIMIT=5, API_AUTH_FAILURE_WINDOW_S=600)
def test_the_failure_counter_is_atomic_across_threads(account):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    wrong = basic(account.auth_id, "z" * 40)

    def attempt(_: int) -> int:
        try:
            return get(wrong, account).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(40)))
    from django.core.cache import cache

    from onboarding.api.auth import _failure_key, _window

    # Every 401 was counted once: a read-then-write counter would lose increments here.
    assert cache.get(_failure_key(account.auth_id, _window()[0])) == statuses.count(401)
    assert statuses.count(401) >= 5
    assert statuses.count(429) >= 1
    assert get(account.basic, account).status_code == 429
