"""Tenancy (SEC-1), generated from the URL configuration: every route under
/v1/Account/<auth_id>/ that takes an id is called, with every method its view answers, by Tech
Provider A with Tech Provider B's real ids, and must answer exactly what an unknown id answers
(404, the same error message, the same headers) and change nothing of B's.

Routes are found by walking the URLconf, so a new route is covered without editing this file.
A route whose id has no filler below fails the test until one is added: a real object of a given
Tech Provider (made so that a missing ownership check would let the call succeed: a failed
onboarding for Retry, a failed delivery with a callback URL for Replay) and an unknown id.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from messaging.models import Delivery, InboundMedia, Message, MessageTemplate
from onboarding.models import Onboarding, TechProvider, WhatsAppBusinessAccount
from onboarding.services.signup import embedded_signup_submit
from onboarding.signup_input import SignupInput
from tests.conftest import Account, make_account

pytestmark = pytest.mark.django_db

PREFIX = "v1/Account/<str:auth_id>/"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Filler:
    """How to get a real id of a Tech Provider for one path parameter, and an unknown one."""

    make: Callable[[TechProvider, int], str]
    unknown: str
    # Rows whose every field is compared before and after the foreign calls.
    rows: Callable[[TechProvider], list[Any]]


def _failed_onboarding(tech_provider: TechProvider, n: int) -> str:
    waba_id, number = f"{7100000000 + n}", f"{7200000000 + n}"
    onboarding = embedded_signup_submit(
        tech_provider=tech_provider,
        signup=SignupInput(waba_id, f"{7300000000 + n}", number, "tenant-b"),
    )
    Onboarding.objects.filter(pk=onboarding.pk).update(status=Onboarding.Status.FAILED)
    return waba_id


def _failed_delivery(tech_provider: TechProvider, n: int) -> str:
    TechProvider.objects.filter(pk=tech_provider.pk).update(webhook_url="https://example.com/b")
    delivery = Delivery.objects.create(
        tech_provider=tech_provider,
        webhook_id=f"evt_tenant{n:04d}",
        event_type="message.status",
        body="{}",
        state=Delivery.State.FAILED,
    )
    return delivery.webhook_id


def _latest_waba(tech_provider: TechProvider) -> WhatsAppBusinessAccount:
    """The WABA the waba_id filler made (it runs first), so nested ids belong to it."""
    return tech_provider.wabas.order_by("-id")[0]


def _message(tech_provider: TechProvider, n: int) -> str:
    waba = _latest_waba(tech_provider)
    number = waba.phone_numbers.order_by("id")[0]
    message = Message.objects.create(
        tech_provider=tech_provider,
        waba=waba,
        sender=number,
        phone_number_id=number.phone_number_id,
        src="15550001111",
        dst=f"9198000{n:05d}",
        kind="text",
        content={"body": "hi"},
    )
    return str(message.uuid)


def _template(tech_provider: TechProvider, n: int) -> str:
    template = MessageTemplate.objects.create(
        waba=_latest_waba(tech_provider),
        template_id=f"{7400000000 + n}",
        name=f"tenant_{n}",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hello"}],
    )
    return template.template_id


def _media(tech_provider: TechProvider, n: int) -> str:
    media = InboundMedia.objects.create(
        media_id=f"{7500000000 + n}",
        tech_provider=tech_provider,
        waba=_latest_waba(tech_provider),
        kind="image",
    )
    return media.media_id


FILLERS: dict[str, Filler] = {
    "waba_id": Filler(
        make=_failed_onboarding,
        unknown="7999999999",
        rows=lambda tp: [*tp.wabas.all(), *Onboarding.objects.filter(waba__tech_provider=tp)],
    ),
    "webhook_id": Filler(
        make=_failed_delivery,
        unknown="evt_doesnotexist",
        rows=lambda tp: list(Delivery.objects.filter(tech_provider=tp)),
    ),
    "message_uuid": Filler(
        make=_message,
        unknown="00000000-0000-4000-8000-000000000000",
        rows=lambda tp: list(Message.objects.filter(tech_provider=tp)),
    ),
    "template_id": Filler(
        make=_template,
        unknown="7999999998",
        rows=lambda tp: list(MessageTemplate.objects.filter(waba__tech_provider=tp)),
    ),
    "media_id": Filler(
        make=_media,
        unknown="7999999997",
        rows=lambda tp: list(InboundMedia.objects.filter(tech_provider=tp)),
    ),
}


def id_routes() -> list[tuple[str, Any]]:
    """Every route under the account prefix with a path parameter besides auth_id."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    return [
        (route, pattern.callback)
        for route, pattern in walk(get_resolver().url_patterns, "")
        if route.startswith(PREFIX) and "<" in route.removeprefix(PREFIX)
    ]


def params_of(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route.removeprefix(PREFIX))


def fill(route: str, values: dict[str, str]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)


def methods_of(callback: Any) -> list[str]:
    view_class = getattr(callback, "view_class", None)
    assert view_class is not None, f"{callback} is not a class-based API view"
    return [method for method in METHODS if hasattr(view_class, method)]


def snapshot(tech_provider: TechProvider) -> list[dict[str, Any]]:
    rows = [row for filler in FILLERS.values() for row in filler.rows(tech_provider)]
    return [model_to_dict(row) for row in rows]


def call(client: APIClient, method: str, url: str) -> Any:
    return getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)


def same_answer(foreign: Any, unknown: Any, where: str) -> None:
    assert unknown.status_code == 404, (where, unknown.status_code, unknown.content)
    assert foreign.status_code == unknown.status_code, (where, foreign.content)
    assert foreign["Content-Type"] == unknown["Content-Type"], where
    foreign_body, unknown_body = foreign.json(), unknown.json()
    assert set(foreign_body) == set(unknown_body) == {"api_id", "error"}, where
    assert foreign_body["error"] == unknown_body["error"], where
    assert foreign.headers.keys() == unknown.headers.keys(), where


def test_the_walk_finds_the_routes_with_ids() -> None:
    routes = [route for route, _ in id_routes()]
    assert f"{PREFIX}WhatsApp/EmbeddedSignup/<str:waba_id>/" in routes
    assert f"{PREFIX}WhatsApp/Webhook/Delivery/<str:webhook_id>/Replay/" in routes


def test_every_id_route_has_a_filler() -> None:
    routes = [route for route, _ in id_routes()]
    missing = {
        (route, name) for route in routes for name in params_of(route) if name not in FILLERS
    }
    assert not missing, (
        "a route takes an id this test cannot fill; add a Filler for it in FILLERS: "
        + ", ".join(f"<{name}> in {route}" for route, name in sorted(missing))
    )


def test_another_tech_providers_ids_answer_exactly_like_unknown_ids(
    api: APIClient, account: Account
) -> None:
    owner = make_account("Tenant B")
    names = {name for route, _ in id_routes() for name in params_of(route)}
    if names - FILLERS.keys():
        pytest.skip("test_every_id_route_has_a_filler names the missing filler")
    foreign_ids, unknown_ids, own_ids = {}, {}, {}
    for n, name in enumerate(sorted(names, key=lambda name: (name != "waba_id", name))):
        foreign_ids[name] = FILLERS[name].make(owner.tech_provider, n)
        own_ids[name] = FILLERS[name].make(account.tech_provider, 100 + n)
        unknown_ids[name] = FILLERS[name].unknown
    before = snapshot(owner.tech_provider)

    calls = 0
    for route, callback in id_routes():
        for method in methods_of(callback):
            where = f"{method.upper()} {route}"
            foreign = call(api, method, fill(route, {"auth_id": account.auth_id, **foreign_ids}))
            unknown = call(api, method, fill(route, {"auth_id": account.auth_id, **unknown_ids}))
            same_answer(foreign, unknown, where)
            # The same call on A's own object is not a 404: the route really reads the id.
            own = call(api, method, fill(route, {"auth_id": account.auth_id, **own_ids}))
            assert own.status_code != 404, (where, own.content)
            calls += 3

    assert snapshot(owner.tech_provider) == before  # B's objects untouched
    assert calls >= 3 * 4
    print(f"\nTENANCY: {calls // 3} route-methods, {calls} calls, 0 leaks")  # noqa: T201


def test_a_path_naming_another_tech_provider_answers_like_an_unknown_account(
    api: APIClient, account: Account, settings: Any
) -> None:
    """A's credentials with B's auth_id in the path: the same 401 as an auth_id that does not
    exist, on every route of the account (with or without ids)."""
    settings.API_AUTH_FAILURE_LIMIT = 10**6  # each call is a failed login for A's auth_id
    owner = make_account("Tenant B")

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif (prefix + str(pattern.pattern)).startswith(PREFIX):
                yield prefix + str(pattern.pattern), pattern.callback

    checked = 0
    for route, callback in walk(get_resolver().url_patterns, ""):
        ids = {name: FILLERS[name].unknown for name in params_of(route) if name in FILLERS}
        if len(ids) != len(params_of(route)):
            continue  # reported by test_every_id_route_has_a_filler
        for method in methods_of(callback):
            foreign = call(api, method, fill(route, {"auth_id": owner.auth_id, **ids}))
            unknown = call(api, method, fill(route, {"auth_id": "MA" + "Z" * 18, **ids}))
            assert foreign.status_code == unknown.status_code == 401, route
            assert foreign.json()["error"] == unknown.json()["error"]
            assert foreign["WWW-Authenticate"] == unknown["WWW-Authenticate"]
            checked += 1
    assert checked >= 7
