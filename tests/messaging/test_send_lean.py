"""POST Message/: the lean send (messaging.apis_send) answers exactly as DRF's MessageApi does.

Every case of the matrix is sent twice through the full middleware stack with Django's test
client (CSRF checks on, as in production): once through the site's URLconf, where the usual send
is answered by the lean view, and once through this module's URLconf, which routes the same path
straight to MessageApi.as_view(). Before each of the two, the cache (lockout and rate counters) is
cleared, the outbox emptied and the case's warm-up requests made again, under a frozen clock, so
both see the same state. Status, body (api_id and message_uuid checked, then replaced by
placeholders; the bytes compared too), every header (X-Request-Id's value aside; Content-Type,
Allow, WWW-Authenticate and Retry-After by name) and the outbox rows written must be alike. A spy
on MessageApi.dispatch shows which path answered. Then: the requests handed to DRF (and how DRF
answers them), the OpenAPI operation, and an unexpected failure answered as a 500 in the API's
error shape.
"""

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
import yaml
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone

from config import urls as site_urls
from messaging.apis_messages import MessageApi
from messaging.models import ConversationWindow, Message
from onboarding.api.errors import SERVER_ERROR
from onboarding.models import IdempotencyKey, PhoneNumber, TechProvider, WhatsAppBusinessAccount
from tests.conftest import Account
from tests.messaging.conftest import make_waba
from tests.messaging.sending import approved_template, body, open_window, sending_waba, template_ref

pytestmark = pytest.mark.django_db

# This module is also a URLconf: the send path straight to DRF, everything else as the site has it.
DRF_URLCONF = __name__
SITE_URLCONF = "config.urls"
urlpatterns = [
    path("v1/Account/<str:auth_id>/Message/", MessageApi.as_view(), name="drf-message-list"),
    *site_urls.urlpatterns,
]

NAMED_HEADERS = ("Content-Type", "Allow", "WWW-Authenticate", "Retry-After")
VOLATILE_HEADERS = ("X-Request-Id",)  # present on both, a new value per request
UUID_TEXT = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID = re.compile(f"^{UUID_TEXT.decode()}$")
UNKNOWN_AUTH_ID = "MA" + "Q" * 18
OTHER_PHONE_ID = "555555555555555"
LOCKOUT = {"API_AUTH_FAILURE_LIMIT": 2}
ALLOW = "GET, POST, HEAD, OPTIONS"
SMALL_RATE = {"API_RATE_LIMIT_PER_S": 1.0, "API_RATE_LIMIT_BURST": 2}


@dataclass
class World:
    """A Tech Provider with a sending WABA (+1 555 000 1111), and a second Tech Provider."""

    account: Account
    other: Account
    waba: WhatsAppBusinessAccount


@pytest.fixture
def world(account: Account, other_account: Account) -> World:
    return World(account, other_account, sending_waba(account.tech_provider))


@pytest.fixture
def frozen() -> Iterator[None]:
    """The clock stopped mid-window for the lockout (300 s) and the rate limit (2 s), so both
    paths see the same windows and answer the same Retry-After."""
    with time_machine.travel((int(time.time()) // 600) * 600 + 100.25, tick=False):
        yield


@pytest.fixture
def drf_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods of the requests that reached MessageApi (DRF's path), in order."""
    calls: list[str] = []
    real = MessageApi.dispatch

    def spy(self: MessageApi, request: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(request.method)
        return real(self, request, *args, **kwargs)

    monkeypatch.setattr(MessageApi, "dispatch", spy)
    return calls


# ---------------------------------------------------------------- requests


def basic(auth_id: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode()


def encoded(data: Any) -> bytes:
    return json.dumps(data).encode()


def request(
    url: str,
    data: bytes,
    *,
    authorization: str | None,
    method: str = "POST",
    content_type: str | None = "application/json",
    urlconf: str = SITE_URLCONF,
    headers: dict[str, str] | None = None,
) -> Any:
    """A request through every middleware (CSRF enforced), on the site's or on this URLconf.

    An empty body still carries its Content-Type (the test client would drop it)."""
    sent = dict(headers or {})
    if authorization is not None:
        sent["Authorization"] = authorization
    empty: dict[str, Any] = (
        {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": "0"} if content_type and not data else {}
    )
    client = Client(enforce_csrf_checks=True)
    with override_settings(ROOT_URLCONF=urlconf):
        return client.generic(
            method, url, data, content_type=content_type or "", headers=sent, **empty
        )


def listed(world: World, authorization: str) -> int:
    """GET Message/ (always DRF's), for the warm-ups."""
    url = world.account.url("Message/")
    response = request(url, b"", authorization=authorization, method="GET", content_type=None)
    return response.status_code


# ---------------------------------------------------------------- the matrix


def right(world: World) -> str:
    return world.account.basic


def wrong_token(world: World) -> str:
    return basic(world.account.auth_id, "z" * 40)


def own(world: World) -> str:
    return world.account.auth_id


def nothing(world: World) -> None:
    pass


def flags(**values: bool) -> Callable[[World], None]:
    def given(world: World) -> None:
        TechProvider.objects.filter(pk=world.account.tech_provider.pk).update(**values)

    return given


def a_template(world: World) -> None:
    approved_template(world.waba)


def an_open_window(world: World) -> None:
    open_window()


def a_closed_window(world: World) -> None:
    open_window(hours_ago=30)


def a_closed_window_and_a_template(world: World) -> None:
    a_closed_window(world)
    a_template(world)


def disabled_whatsapp(world: World) -> None:
    flags(whatsapp_enabled=False)(world)
    an_open_window(world)


def a_pending_template(world: World) -> None:
    approved_template(world.waba, status="PENDING")


def a_deregistered_number(world: World) -> None:
    an_open_window(world)
    PhoneNumber.objects.filter(waba=world.waba).update(
        registration=PhoneNumber.Registration.DEREGISTERED
    )


def an_offboarded_waba(world: World) -> None:
    an_open_window(world)
    WhatsAppBusinessAccount.objects.filter(pk=world.waba.pk).update(
        status=WhatsAppBusinessAccount.Status.OFFBOARDED
    )


def a_number_of_the_other_account(world: World) -> None:
    """The other Tech Provider sends from +1 555 000 2222, whose customer wrote to it."""
    make_waba(world.other.tech_provider, "222222222222222", OTHER_PHONE_ID, "15550002222")
    ConversationWindow.objects.create(
        phone_number_id=OTHER_PHONE_ID,
        wa_id="919800000001",
        last_inbound_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=23),
    )


def locked_out(world: World) -> None:
    """Two failures for the account's auth_id (API_AUTH_FAILURE_LIMIT is 2 in these cases)."""
    assert [listed(world, wrong_token(world)) for _ in range(2)] == [401, 401]


def burst_used(world: World) -> None:
    """The whole burst (API_RATE_LIMIT_BURST is 2 in these cases) used; a 403 counts too."""
    assert {listed(world, world.account.basic) for _ in range(2)} <= {200, 403}


TEXT = encoded(body(text="Your order shipped"))
NO_SRC = encoded({k: v for k, v in body(text="hi").items() if k != "src"})
SEVERAL = encoded(body(dst="+919800000001<919800000002<+919800000003", template=template_ref()))
FALLBACK = encoded(body(text="hi", fallback_template=template_ref()))
NOT_OURS = encoded(body(src="+15559999999", text="hi"))
OTHERS_NUMBER = encoded(body(src="+15550002222", text="hi"))
TEMPLATE = encoded(body(template=template_ref()))


@dataclass(frozen=True)
class Case:
    id: str
    status: int
    rows: int = 0
    data: bytes = TEXT
    auth: Callable[[World], str | None] = right
    path_auth_id: Callable[[World], str] = own
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    given: Callable[[World], None] = an_open_window  # database state, made once
    before: Callable[[World], None] = nothing  # cache state, made again before each path
    settings: dict[str, Any] = field(default_factory=dict)
    drf: bool = False  # not usual: the lean view hands it to DRF


CASES: list[Any] = [
    Case("text-in-open-window", 202, rows=1),
    Case("accept-any", 202, rows=1, headers={"Accept": "*/*"}),
    Case("accept-json", 202, rows=1, headers={"Accept": "application/json"}),
    Case("blank-idempotency-key", 202, rows=1, headers={"Idempotency-Key": "  "}),
    Case("lowercase-basic-scheme", 202, rows=1, auth=lambda w: "basic " + w.account.basic[6:]),
    Case("format-json-in-query", 202, rows=1, query="?format=json", drf=True),
    Case("rate-limit-off", 202, rows=1, settings={"API_RATE_LIMIT_PER_S": 0}),
    Case("template", 202, rows=1, data=TEMPLATE, given=a_template),
    Case("several-recipients", 202, rows=3, data=SEVERAL, given=a_template),
    Case(
        "fallback-template-used", 202, rows=1, data=FALLBACK, given=a_closed_window_and_a_template
    ),
    Case("invalid-json", 400, data=b'{"type": "whatsapp", "src": '),
    Case("invalid-utf8", 400, data=b'{"type": "whatsapp", "text": "\xff\xfe"}'),
    Case("json-nan", 400, data=b'{"type": "whatsapp", "message_expiry": NaN}'),
    Case("json-array", 400, data=b"[1, 2]"),
    Case("json-scalar", 400, data=b'"whatsapp"'),
    Case("json-null", 400, data=b"null"),
    Case("empty-body", 400, data=b""),
    Case("whitespace-body", 400, data=b"  \n"),
    Case("missing-src", 400, data=NO_SRC),
    Case("src-not-ours", 400, data=NOT_OURS),
    Case("src-of-another-account", 400, data=OTHERS_NUMBER, given=a_number_of_the_other_account),
    Case("deregistered-number", 400, given=a_deregistered_number),
    Case("offboarded-waba", 400, given=an_offboarded_waba),
    Case("pending-template", 400, data=TEMPLATE, given=a_pending_template),
    Case("window-closed", 400, given=a_closed_window),
    Case("never-wrote", 400, given=nothing),
    Case("unknown-template", 400, data=encoded(body(template=template_ref("nope")))),
    Case("no-authorization", 401, auth=lambda w: None),
    Case("not-basic", 401, auth=lambda w: "Bearer " + w.account.auth_token),
    Case("not-base64", 401, auth=lambda w: "Basic !!!not-base64!!!"),
    Case("no-colon", 401, auth=lambda w: "Basic " + base64.b64encode(b"MAXXXX").decode()),
    Case("wrong-token", 401, auth=wrong_token),
    Case(
        "unknown-auth-id",
        401,
        auth=lambda w: basic(UNKNOWN_AUTH_ID, w.account.auth_token),
        path_auth_id=lambda w: UNKNOWN_AUTH_ID,
    ),
    Case("path-is-another-account", 401, path_auth_id=lambda w: w.other.auth_id),
    Case("credentials-of-another-account", 401, auth=lambda w: w.other.basic),
    Case("inactive-tech-provider", 401, given=flags(is_active=False)),
    Case("whatsapp-not-enabled", 403, given=disabled_whatsapp),
    Case("no-tech-provider-permission", 403, given=flags(tech_provider_permission=False)),
    Case("both-off", 403, given=flags(whatsapp_enabled=False, tech_provider_permission=False)),
    Case("locked-out-right-token", 429, before=locked_out, settings=LOCKOUT),
    Case("locked-out-wrong-token", 429, auth=wrong_token, before=locked_out, settings=LOCKOUT),
    Case("over-the-rate-limit", 429, before=burst_used, settings=SMALL_RATE),
    Case(
        "forbidden-before-rate",
        403,
        given=disabled_whatsapp,
        before=burst_used,
        settings=SMALL_RATE,
    ),
    Case("nul-in-query-value", 400, query="?note=a%00b", drf=True),
    Case("nul-in-query-name", 400, query="?a%00b=1", drf=True),
    Case("invalid-json-and-wrong-token", 401, data=b"{not json", auth=wrong_token),
    Case("invalid-json-and-forbidden", 403, data=b"{not json", given=disabled_whatsapp),
    Case(
        "invalid-json-and-over-rate", 429, data=b"{not json", before=burst_used, settings=SMALL_RATE
    ),
    Case("invalid-json-and-nul-in-query", 400, data=b"{not json", query="?q=%00", drf=True),
    Case("no-src-and-wrong-token", 401, data=NO_SRC, auth=wrong_token),
    Case("no-src-and-forbidden", 403, data=NO_SRC, given=disabled_whatsapp),
    Case("no-src-and-locked-out", 429, data=NO_SRC, before=locked_out, settings=LOCKOUT),
    Case("src-not-ours-and-wrong-token", 401, data=NOT_OURS, auth=wrong_token),
    Case("src-not-ours-and-forbidden", 403, data=NOT_OURS, given=disabled_whatsapp),
    Case("src-not-ours-and-over-rate", 429, data=NOT_OURS, before=burst_used, settings=SMALL_RATE),
    Case(
        "others-number-with-others-path",
        401,
        data=OTHERS_NUMBER,
        path_auth_id=lambda w: w.other.auth_id,
        given=a_number_of_the_other_account,
    ),
    # handed to DRF by the lean view, so answered by DRF on both sides
    Case("empty-accept", 406, headers={"Accept": ""}, drf=True),
    Case("format-xml-in-query", 404, query="?format=xml", drf=True),
    Case("format-xml-and-wrong-token", 404, query="?format=xml", auth=wrong_token, drf=True),
]


@dataclass
class Answer:
    status: int
    content: bytes
    headers: dict[str, str]
    rows: int
    drf_calls: int

    def json(self) -> Any:
        return json.loads(self.content)

    def named(self) -> dict[str, str]:
        return {name: self.headers[name] for name in NAMED_HEADERS if name in self.headers}


def answer(world: World, case: Case, urlconf: str, drf_calls: list[str]) -> Answer:
    """The case's request on one path, from a clean cache and an empty outbox."""
    cache.clear()
    Message.objects.all().delete()
    case.before(world)
    url = f"/v1/Account/{case.path_auth_id(world)}/Message/{case.query}"
    calls = len(drf_calls)
    response = request(
        url, case.data, authorization=case.auth(world), urlconf=urlconf, headers=case.headers
    )
    headers = dict(response.items())
    for name in VOLATILE_HEADERS:
        assert headers.pop(name), name
    return Answer(
        response.status_code,
        response.content,
        headers,
        Message.objects.count(),
        len(drf_calls) - calls,
    )


def placeholders(answer: Answer) -> Any:
    """The body with its api_id and message uuids checked and replaced by placeholders."""
    data = answer.json()
    assert UUID.match(data.pop("api_id")), answer.content
    for name in ("message_uuid", "fallback_template_used"):
        if name in data:
            assert data[name], answer.content
            assert all(UUID.match(u) for u in data[name]), answer.content
            data[name] = ["<uuid>"] * len(data[name])
    return data


def same_bytes(answer: Answer) -> bytes:
    return re.sub(UUID_TEXT, b"<uuid>", answer.content)


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id) if isinstance(c, Case) else c for c in CASES]
)
def test_the_lean_path_answers_as_drf_does(
    world: World, frozen: None, drf_calls: list[str], case: Case
) -> None:
    case.given(world)
    with override_settings(**case.settings):
        lean = answer(world, case, SITE_URLCONF, drf_calls)
        drf = answer(world, case, DRF_URLCONF, drf_calls)

    assert (lean.drf_calls, drf.drf_calls) == (int(case.drf), 1)  # the usual never reaches DRF
    assert (lean.status, drf.status) == (case.status, case.status), (lean.content, drf.content)
    assert placeholders(lean) == placeholders(drf)
    assert same_bytes(lean) == same_bytes(drf)
    assert lean.named() == drf.named()
    assert lean.headers == drf.headers
    assert (lean.rows, drf.rows) == (case.rows, case.rows)
    fields = {"api_id", "message", "message_uuid"} if case.rows else {"api_id", "error"}
    assert fields <= set(lean.json()) <= fields | {"fallback_template_used"}
    assert lean.headers["Content-Type"] == "application/json"
    assert lean.headers["Allow"] == ALLOW
    assert ("WWW-Authenticate" in lean.headers) == (case.status == 401)
    assert ("Retry-After" in lean.headers) == (case.status == 429)


# ---------------------------------------------------------------- routing


def test_the_usual_send_is_answered_without_drf(world: World, drf_calls: list[str]) -> None:
    open_window()
    url = world.account.url("Message/")
    for accept in (None, "*/*", "application/json"):
        headers = {"Accept": accept} if accept else {}
        response = request(url, TEXT, authorization=world.account.basic, headers=headers)
        assert response.status_code == 202, response.content
    refused = request(url, b"[]", authorization=world.account.basic)
    unauthenticated = request(url, TEXT, authorization=None)

    assert (refused.status_code, unauthenticated.status_code) == (400, 401)
    assert drf_calls == []
    assert Message.objects.count() == 3


@dataclass(frozen=True)
class HandedOver:
    id: str
    status: int
    rows: int
    method: str = "POST"
    data: bytes = TEXT
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


FORM_TYPE = "application/x-www-form-urlencoded"
FORM = urlencode({"type": "whatsapp", "src": "+15550001111", "dst": "+919800000001", "text": "hi"})
HANDED_OVER = [
    HandedOver("get-list", 200, 0, method="GET", data=b"", content_type=None),
    HandedOver("form-body", 202, 1, data=FORM.encode(), content_type=FORM_TYPE),
    HandedOver("json-with-charset", 202, 1, content_type="application/json; charset=utf-8"),
    HandedOver("idempotency-key", 202, 1, headers={"Idempotency-Key": "order-1"}),
    HandedOver("accept-html", 406, 0, headers={"Accept": "text/html"}),
    HandedOver("accept-json-or-text", 202, 1, headers={"Accept": "application/json, text/plain"}),
    HandedOver("put", 405, 0, method="PUT"),
]


@pytest.mark.parametrize("case", HANDED_OVER, ids=[c.id for c in HANDED_OVER])
def test_every_other_request_is_handed_to_drf_unchanged(
    world: World, frozen: None, drf_calls: list[str], case: HandedOver
) -> None:
    open_window()
    answers = []
    for urlconf in (SITE_URLCONF, DRF_URLCONF):
        cache.clear()
        Message.objects.all().delete()
        IdempotencyKey.objects.all().delete()
        response = request(
            world.account.url("Message/"),
            case.data,
            authorization=world.account.basic,
            method=case.method,
            content_type=case.content_type,
            urlconf=urlconf,
            headers=case.headers,
        )
        headers = dict(response.items())
        headers.pop("X-Request-Id")
        content = re.sub(UUID_TEXT, b"<uuid>", response.content)
        answers.append((response.status_code, content, headers, Message.objects.count()))

    assert drf_calls == [case.method, case.method]  # the site's route reached DRF too
    assert answers[0] == answers[1]
    status, content, headers, rows = answers[0]
    assert (status, rows) == (case.status, case.rows), content
    assert headers["Content-Type"] == "application/json"
    assert headers["Allow"] == ALLOW
    if status >= 400:
        assert set(json.loads(content)) == {"api_id", "error"}


def test_an_idempotency_key_is_replayed_by_drf(world: World, drf_calls: list[str]) -> None:
    open_window()
    url = world.account.url("Message/")
    key = {"Idempotency-Key": "order-7"}
    first = request(url, TEXT, authorization=world.account.basic, headers=key)
    again = request(url, TEXT, authorization=world.account.basic, headers=key)

    assert (first.status_code, again.status_code) == (202, 202), again.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert again.json()["message_uuid"] == first.json()["message_uuid"]
    assert Message.objects.count() == 1
    assert drf_calls == ["POST", "POST"]


# ---------------------------------------------------------------- schema and failures


def test_the_schema_still_documents_the_send_with_its_body() -> None:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    operations = schema["paths"]["/v1/Account/{auth_id}/Message/"]

    send = operations["post"]
    assert send["operationId"] == "message_send"
    assert send["requestBody"]["required"] is True
    ref = send["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"type", "src", "dst"} <= set(component["required"])
    assert {"text", "template", "fallback_template", "media_urls"} <= set(component["properties"])
    assert {"202", "400", "401", "403", "429"} <= set(send["responses"])
    assert "Idempotency-Key" in {p["name"] for p in send["parameters"]}
    assert operations["get"]["operationId"] == "message_list"


def outbox_insert_fails(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """An unexpected failure inside the send: the outbox INSERT raises (and never runs)."""
    if sql.lstrip().upper().startswith("INSERT") and Message._meta.db_table in sql:
        raise RuntimeError("boom: an internal detail")
    return execute(sql, params, many, context)


# Without the test's own transaction: on SQLite, save() marks an enclosing atomic block broken when
# the INSERT fails, and the second path's queries would then fail on the test's block, not ours.
@pytest.mark.django_db(transaction=True)
def test_an_unexpected_failure_answers_500_in_the_api_shape(
    world: World, frozen: None, drf_calls: list[str]
) -> None:
    open_window()
    url = world.account.url("Message/")
    with connection.execute_wrapper(outbox_insert_fails):
        lean = request(url, TEXT, authorization=world.account.basic)
        lean_rows = Message.objects.count()
        drf = request(url, TEXT, authorization=world.account.basic, urlconf=DRF_URLCONF)

    assert (lean.status_code, drf.status_code) == (500, 500)
    assert drf_calls == ["POST"]  # the second one only
    data = json.loads(lean.content)
    assert set(data) == {"api_id", "error"}
    assert UUID.match(data["api_id"])
    assert data["error"] == SERVER_ERROR
    for leaked in (b"Traceback", b"RuntimeError", b"boom", b"internal detail", b"INSERT"):
        assert leaked not in lean.content
    assert re.sub(UUID_TEXT, b"", lean.content) == re.sub(UUID_TEXT, b"", drf.content)
    named = [{k: v for k, v in r.items() if k in NAMED_HEADERS} for r in (lean, drf)]
    assert named[0] == named[1] == {"Content-Type": "application/json", "Allow": ALLOW}
    assert lean_rows == 0
    assert Message.objects.count() == 0
