"""Shared fixtures: Tech Providers with known tokens, an authenticated API client, clean cache."""

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from onboarding.models import TechProvider
from onboarding.services.tech_providers import tech_provider_create
from tests.leaks import log_leak_guard, pytest_terminal_summary, register_secret  # noqa: F401


@dataclass
class Account:
    tech_provider: TechProvider
    auth_token: str

    @property
    def auth_id(self) -> str:
        return self.tech_provider.auth_id

    @property
    def basic(self) -> str:
        raw = f"{self.auth_id}:{self.auth_token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def url(self, suffix: str = "WhatsApp/EmbeddedSignup/") -> str:
        return f"/v1/Account/{self.auth_id}/{suffix}"


def make_account(name: str = "Acme ISV", **kwargs: object) -> Account:
    issued = tech_provider_create(name=name, **kwargs)  # type: ignore[arg-type]
    register_secret(issued.auth_token, "auth token")
    register_secret(issued.tech_provider.webhook_secret, "webhook signing secret")
    register_secret(issued.tech_provider.meta_app_secret, "app secret")
    return Account(issued.tech_provider, issued.auth_token)


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def account(db: None) -> Account:
    return make_account()


@pytest.fixture
def other_account(db: None) -> Account:
    return make_account("Other ISV")


@pytest.fixture
def api(account: Account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=account.basic)
    return client
