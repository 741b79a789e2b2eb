"""The API's per-request gate: one cache round trip for the lockout and rate counts, one read of
the Tech Provider, and the Redis client reused between calls."""

import base64
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from onboarding import selectors
from onboarding.api.counters import RateWindow, gate_counts
from onboarding.api.throttling import rate_window
from onboarding.models import TechProvider
from tests.conftest import Account

pytestmark = pytest.mark.django_db

LOCAL = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def wrong_token(account: Account) -> str:
    return "Basic " + base64.b64encode(f"{account.auth_id}:{'z' * 40}".encode()).decode()


def window(name: str) -> RateWindow:
    return RateWindow(f"{name}:cur", f"{name}:prev", ttl=30, elapsed=0.5, length=2.0)


def counts_sequence() -> list[tuple[int, int, int]]:
    cache.set("fails", 3)
    cache.set("w:prev", 7)
    seen = [gate_counts(failure_key="fails", rate=window("w")) for _ in range(3)]
    seen.append(gate_counts(failure_key="nothing", rate=None))
    seen.append(gate_counts(failure_key=None, rate=window("fresh")))
    return [(c.failures, c.current, c.previous) for c in seen]


def test_the_redis_client_is_built_once_per_pool() -> None:
    backend: Any = caches["default"]
    assert backend.redis_client() is backend.redis_client()
    assert backend._cache.get_client("k") is backend._cache.get_client("k", write=True)


def test_the_counts_are_the_same_on_redis_and_on_a_local_cache() -> None:
    on_redis = counts_sequence()
    with override_settings(CACHES=LOCAL):
        cache.clear()
        local = counts_sequence()

    assert on_redis == local == [(3, 1, 7), (3, 2, 7), (3, 3, 7), (0, 0, 0), (0, 1, 0)]


def test_a_new_rate_window_expires_and_an_existing_one_keeps_its_expiry() -> None:
    client = caches["default"].redis_client()  # type: ignore[attr-defined]
    gate_counts(failure_key=None, rate=window("t"))
    key = cache.make_and_validate_key("t:cur")
    assert 0 < client.ttl(key) <= 30

    client.expire(key, 5)
    gate_counts(failure_key=None, rate=window("t"))
    assert client.ttl(key) <= 5


@override_settings(API_RATE_LIMIT_PER_S=5.0, API_RATE_LIMIT_BURST=5)
def test_wrong_tokens_for_a_real_auth_id_take_their_count_back(account: Account) -> None:
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION=wrong_token(account))
    assert {intruder.get(account.url()).status_code for _ in range(4)} == {401}
    rate = rate_window(account.auth_id)
    assert rate is not None
    assert int(cache.get(rate.current_key) or 0) == 0

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=account.basic)
    assert [api.get(account.url()).status_code for _ in range(6)] == [200] * 5 + [429]


@override_settings(API_AUTH_FAILURE_LIMIT=2, API_RATE_LIMIT_PER_S=5.0, API_RATE_LIMIT_BURST=5)
def test_a_locked_out_request_is_not_counted_against_the_rate(account: Account) -> None:
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION=wrong_token(account))
    assert [intruder.get(account.url()).status_code for _ in range(3)] == [401, 401, 429]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=account.basic)
    assert api.get(account.url()).status_code == 429  # the right token too, until the window ends
    rate = rate_window(account.auth_id)
    assert rate is not None
    assert int(cache.get(rate.current_key) or 0) == 0


def test_the_auth_read_is_one_query_and_matches_the_orm(account: Account) -> None:
    with CaptureQueriesContext(connection) as queries:
        found = selectors.tech_provider_for_auth(account.auth_id)
    assert found is not None
    assert len(queries) == 1
    full = TechProvider.objects.get(pk=account.tech_provider.pk)
    for field in TechProvider._meta.concrete_fields:
        if field.attname not in found.get_deferred_fields():
            assert getattr(found, field.attname) == getattr(full, field.attname), field.name
    assert found.get_deferred_fields() == {
        "meta_app_secret",
        "webhook_secret",
        "webhook_secret_previous",
    }
    assert found.webhook_secret == full.webhook_secret  # loaded on first use
    assert selectors.tech_provider_for_auth("MA" + "X" * 18) is None


def test_an_api_request_makes_one_cache_call_before_the_view(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: Any = caches["default"].redis_client()  # type: ignore[attr-defined]
    calls: list[str] = []
    real = type(client).execute_command

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return real(self, *args, **kwargs)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=account.basic)
    assert api.get(account.url()).status_code == 200  # loads the script into Redis if need be
    monkeypatch.setattr(type(client), "execute_command", counting)

    assert api.get(account.url()).status_code == 200
    assert calls == ["EVALSHA"]
