"""Bounded queries: every GET route of the API, found by walking the URLconf, pages its lists and
refuses a page larger than API_PAGE_LIMIT_MAX. A new route is covered without editing this file;
a route with a new kind of id fails here until it gets a sample object below."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from messaging.models import Delivery, InboundMedia, Message, MessageTemplate
from messaging.services.media import media_storage
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount
from tests.conftest import Account

pytestmark = pytest.mark.django_db


def api_get_routes() -> list[str]:
    """Every route under /v1/ whose view answers GET, as its pattern string."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    routes = []
    for route, pattern in walk(get_resolver().url_patterns, ""):
        view_class = getattr(pattern.callback, "view_class", None)
        if route.startswith("v1/") and view_class is not None and hasattr(view_class, "get"):
            routes.append(route)
    return routes


def samples(account: Account) -> dict[str, str]:
    """A real object of this Tech Provider for each kind of id a route takes."""
    tech_provider = account.tech_provider
    waba = WhatsAppBusinessAccount.objects.create(
        tech_provider=tech_provider, waba_id="102290129340398", business_id="203456789012345"
    )
    delivery = Delivery.objects.create(
        tech_provider=tech_provider, webhook_id="msg_bounds1", event_type="test", body="{}"
    )
    number = PhoneNumber.objects.create(waba=waba, phone_number_id="106999900000777")
    message = Message.objects.create(
        tech_provider=tech_provider,
        waba=waba,
        sender=number,
        phone_number_id=number.phone_number_id,
        src="15550001111",
        dst="919800000001",
        kind="text",
        content={"body": "hi"},
    )
    template = MessageTemplate.objects.create(
        waba=waba,
        template_id="7400000001",
        name="bounds_check",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hello"}],
    )
    stored = media_storage().save("bounds/7500000001.jpg", ContentFile(b"\xff\xd8\xff"))
    media = InboundMedia.objects.create(
        media_id="7500000001",
        tech_provider=tech_provider,
        waba=waba,
        kind="image",
        mime_type="image/jpeg",
        storage_name=stored,
        state=InboundMedia.State.STORED,
    )
    return {
        "auth_id": account.auth_id,
        "waba_id": waba.waba_id,
        "webhook_id": delivery.webhook_id,
        "message_uuid": str(message.uuid),
        "template_id": template.template_id,
        "media_id": media.media_id,
    }


def fill(route: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"{route}: add a sample object for <{name}> in samples()")
        return values[name]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def test_the_walk_finds_the_list_routes() -> None:
    routes = api_get_routes()

    assert "v1/Account/<str:auth_id>/WhatsApp/EmbeddedSignup/" in routes
    assert "v1/Account/<str:auth_id>/WhatsApp/Webhook/Delivery/" in routes


def test_every_api_list_is_paged_and_refuses_pages_over_the_max(
    api: APIClient, account: Account
) -> None:
    values = samples(account)
    most = settings.API_PAGE_LIMIT_MAX
    lists = []
    for route in api_get_routes():
        url = fill(route, values)
        plain = api.get(url)
        assert plain.status_code == 200, (url, getattr(plain, "content", b"")[:500])
        if not plain["Content-Type"].startswith("application/json"):
            continue  # a file (stored media), not a list
        body = plain.json()
        top_level_lists = [key for key, item in body.items() if isinstance(item, list)]
        if route.count("<") == 1:  # a collection route: any list in it must be the paged one
            assert top_level_lists in ([], ["objects"]), (url, top_level_lists)
        if "objects" not in body:
            continue
        lists.append(url)
        assert 1 <= body["meta"]["limit"] <= most
        assert len(body["objects"]) <= body["meta"]["limit"]
        assert {"offset", "next", "previous", "total_count"} <= set(body["meta"])

        too_many = api.get(url, {"limit": most + 1})
        if too_many.status_code == 400:
            assert set(too_many.json()) == {"api_id", "error"}
            assert "limit" in too_many.json()["error"]
        else:
            assert too_many.status_code == 200
            assert too_many.json()["meta"]["limit"] <= most

    assert len(lists) >= 2, lists
    for media in InboundMedia.objects.all():  # the sample file written by samples()
        media_storage().delete(media.storage_name)
