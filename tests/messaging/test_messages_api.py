"""POST/GET Message/: Plivo's shapes, every refusal in plain words (and nothing written), the
24-hour window open and closed, the fallback template, idempotency, lists and tenancy."""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import Message
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount
from tests.conftest import Account
from tests.messaging.conftest import make_waba
from tests.messaging.sending import (
    CUSTOMER,
    SRC,
    approved_template,
    body,
    open_window,
    sending_waba,
    template_ref,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def waba(account: Account) -> WhatsAppBusinessAccount:
    return sending_waba(account.tech_provider)


def send(api: APIClient, account: Account, data: Any, **headers: str) -> Any:
    return api.post(account.url("Message/"), data, format="json", headers=headers)


def refused(api: APIClient, account: Account, data: Any) -> str:
    response = send(api, account, data)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert set(payload) == {"api_id", "error"}
    assert Message.objects.count() == 0  # a refusal changes nothing
    return str(payload["error"])


# ---------------------------------------------------------------- accepted


def test_a_text_in_an_open_window_is_queued_with_plivos_answer(api, account, waba) -> None:
    open_window()
    response = send(api, account, body(text="Your order shipped", url="https://tp.example/cb"))
    assert response.status_code == 202
    payload = response.json()
    assert set(payload) == {"api_id", "message", "message_uuid"}
    assert payload["message"] == "message(s) queued"
    row = Message.objects.get()
    assert payload["message_uuid"] == [str(row.uuid)]
    assert (row.state, row.kind, row.src, row.dst) == ("queued", "text", "15550001111", CUSTOMER)
    assert row.content == {"body": "Your order shipped", "preview_url": False}
    assert (row.callback_url, row.callback_method) == ("https://tp.example/cb", "POST")
    assert row.next_attempt_at is not None


def test_several_recipients_joined_by_lt_each_get_a_message(api, account, waba) -> None:
    approved_template(waba)
    dst = "+919800000001<919800000002< +91 98000 00003<+919800000001"
    response = send(api, account, body(dst=dst, template=template_ref()))
    assert response.status_code == 202
    assert len(response.json()["message_uuid"]) == 3  # the repeated number once
    assert sorted(Message.objects.values_list("dst", flat=True)) == [
        "919800000001",
        "919800000002",
        "919800000003",
    ]


def test_a_template_needs_no_window_and_is_sent_as_metas_template(api, account, waba) -> None:
    approved_template(waba)
    response = send(api, account, body(template=template_ref("order_update", "Asha")))
    assert response.status_code == 202
    row = Message.objects.get()
    assert row.kind == "template"
    assert row.content == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Asha"}]}],
    }
    assert (row.template_name, row.template_language) == ("order_update", "en_US")


def test_nulls_as_the_sdk_sends_them_are_accepted(api, account, waba) -> None:
    open_window()
    interactive = {
        "type": "button",
        "header": None,
        "body": {"text": "Pick one"},
        "footer": None,
        "action": {"buttons": [{"id": "y", "title": "Yes", "cta_url": None}], "sections": []},
    }
    data = body(interactive=interactive, text=None, url=None, media_urls=None, template=None)
    data.update(powerpack_uuid=None, message_expiry=None, media_ids=None, location=None)
    assert send(api, account, data).status_code == 202
    assert Message.objects.get().content == {
        "type": "button",
        "body": {"text": "Pick one"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]},
    }


@pytest.mark.parametrize(
    ("fields", "kind", "content"),
    [
        (
            {
                "location": {
                    "latitude": "19.07",
                    "longitude": "72.87",
                    "name": "Shop",
                    "address": "1 Rd",
                }
            },
            "location",
            {"latitude": 19.07, "longitude": 72.87, "name": "Shop", "address": "1 Rd"},
        ),
        (
            {"media_urls": ["https://cdn.example/p/photo.JPG"], "text": "Look"},
            "image",
            {"link": "https://cdn.example/p/photo.JPG", "caption": "Look"},
        ),
        (
            {"media_urls": ["https://cdn.example/invoice.pdf"]},
            "document",
            {"link": "https://cdn.example/invoice.pdf", "filename": "invoice.pdf"},
        ),
        (
            {
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "Track it"},
                    "action": {"buttons": [{"title": "Track", "cta_url": "https://t.example/1"}]},
                }
            },
            "interactive",
            {
                "type": "cta_url",
                "body": {"text": "Track it"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Track", "url": "https://t.example/1"},
                },
            },
        ),
        (
            {
                "interactive": {
                    "type": "list",
                    "body": {"text": "Choose"},
                    "action": {
                        "buttons": [{"title": "Options"}],
                        "sections": [{"title": "S", "rows": [{"id": "r1", "title": "One"}]}],
                    },
                }
            },
            "interactive",
            {
                "type": "list",
                "body": {"text": "Choose"},
                "action": {
                    "button": "Options",
                    "sections": [{"rows": [{"id": "r1", "title": "One"}], "title": "S"}],
                },
            },
        ),
    ],
)
def test_plivo_content_becomes_metas_object(api, account, waba, fields, kind, content) -> None:
    open_window()
    assert send(api, account, body(**fields)).status_code == 202
    row = Message.objects.get()
    assert (row.kind, row.content) == (kind, content)


def test_template_media_and_currency_parameters_become_metas(api, account, waba) -> None:
    approved_template(
        waba,
        components=[
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "{{1}} {{2}}"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "OK"}]},
        ],
    )
    template = {
        "name": "order_update",
        "language": "en_US",
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "media": "https://x.example/a.png"}],
            },
            {
                "type": "body",
                "parameters": [
                    {
                        "type": "currency",
                        "currency": {
                            "fallback_value": "$5",
                            "currency_code": "USD",
                            "amount_1000": 5000,
                        },
                    },
                    {"type": "date_time", "date_time": {"fallback_value": "May 1"}},
                ],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": 0,
                "parameters": [{"type": "payload", "payload": "P1"}],
            },
        ],
    }
    assert send(api, account, body(template=template)).status_code == 202
    components = Message.objects.get().content["components"]
    assert components[0]["parameters"] == [
        {"type": "image", "image": {"link": "https://x.example/a.png"}}
    ]
    assert components[1]["parameters"][0]["currency"]["amount_1000"] == 5000
    assert components[1]["parameters"][1] == {
        "type": "date_time",
        "date_time": {"fallback_value": "May 1"},
    }
    assert components[2] == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "P1"}],
    }


# ---------------------------------------------------------------- the window and the fallback


def test_free_form_outside_the_window_is_refused_saying_a_template_is_required(
    api, account, waba
) -> None:
    open_window(hours_ago=25)  # the customer wrote 25 hours ago
    error = refused(api, account, body(text="hello"))
    assert "24-hour customer service window is closed for +919800000001" in error
    assert "send an approved template" in error


def test_free_form_to_someone_who_never_wrote_is_refused(api, account, waba) -> None:
    assert "window is closed" in refused(api, account, body(text="hello"))


def test_the_fallback_template_goes_when_the_window_is_closed_and_the_answer_says_so(
    api, account, waba
) -> None:
    approved_template(waba, "we_miss_you", components=[{"type": "BODY", "text": "Hello!"}])
    open_window("919800000002")  # one of the two recipients wrote recently
    fallback = {"name": "we_miss_you", "language": "en_US", "components": []}
    data = body(dst="+919800000001<+919800000002", text="hi", fallback_template=fallback)
    response = send(api, account, data)
    assert response.status_code == 202
    payload = response.json()
    closed = Message.objects.get(dst="919800000001")
    opened = Message.objects.get(dst="919800000002")
    assert payload["fallback_template_used"] == [str(closed.uuid)]
    assert (closed.kind, closed.fallback_used, closed.template_name) == (
        "template",
        True,
        "we_miss_you",
    )
    assert closed.content == {"name": "we_miss_you", "language": {"code": "en_US"}}
    assert (opened.kind, opened.fallback_used) == ("text", False)
    assert opened.fallback == closed.content  # kept for a window that closes before sending


def test_a_fallback_that_is_not_approved_is_refused_even_with_the_window_open(
    api, account, waba
) -> None:
    open_window()
    approved_template(waba, "we_miss_you", status="REJECTED", components=[])
    fallback = {"name": "we_miss_you", "language": "en_US"}
    error = refused(api, account, body(text="hi", fallback_template=fallback))
    assert error == (
        "fallback_template 'we_miss_you' (en_US) is REJECTED: only APPROVED templates can be sent."
    )


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "sms"}, "type must be whatsapp: this platform sends WhatsApp messages only."),
        ({"type": None}, "type must be whatsapp: this platform sends WhatsApp messages only."),
        ({"src": None}, "src is required: the WhatsApp number to send from."),
        ({"src": "abc"}, "src 'abc' is not a valid E.164 phone number (e.g. +14155550123)."),
        ({"dst": None}, "dst is required: one E.164 number, or several joined by '<'."),
        ({"dst": "+12"}, "dst '+12' is not a valid E.164 phone number (e.g. +14155550123)."),
        ({"dst": SRC}, "dst cannot include the src number."),
        ({"text": "x" * 4097}, "text is 4097 characters long; WhatsApp allows at most 4096."),
        (
            {"text": None},
            "The message is empty: give text, template, interactive, location or media_urls.",
        ),
        (
            {"template": template_ref()},
            "Send one kind of content per message; this request has text and template.",
        ),
        ({"url": "ftp://x.example/cb"}, "url must be an https URL without credentials."),
        ({"method": "PUT"}, "method must be GET or POST."),
        ({"message_expiry": 2}, "message_expiry must be a whole number of seconds, 5 to 86400."),
        (
            {"powerpack_uuid": "p-1"},
            "powerpack_uuid is not supported: send from src, a WhatsApp number.",
        ),
        ({"media_ids": ["1"]}, "media_ids is not supported: give the file's URL in media_urls."),
        ({"text": "a\x00b"}, "The request may not contain NUL characters."),
        (
            {"text": None, "media_urls": ["https://a.example/1.jpg", "https://a.example/2.jpg"]},
            "WhatsApp sends one file per message: give one URL in media_urls.",
        ),
        (
            {"text": None, "location": {"latitude": "91", "longitude": "0"}},
            "location.latitude must be between -90 and 90.",
        ),
        (
            {
                "text": None,
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {"buttons": [{"id": str(i), "title": "B"} for i in range(4)]},
                },
            },
            "interactive buttons need 1 to 3 buttons.",
        ),
        (
            {"text": None, "interactive": {"type": "button", "action": {"buttons": []}}},
            "interactive.body.text is required.",
        ),
    ],
)
def test_each_rule_is_refused_in_plain_words(
    api, account, waba, settings, fields, expected
) -> None:
    settings.WEBHOOK_ALLOW_HTTP = False  # production: callback URLs must be https
    open_window()
    assert refused(api, account, body(**{"text": "hi", **fields})) == expected


def test_a_number_of_another_tech_provider_is_not_the_callers(api, account, other_account) -> None:
    make_waba(other_account.tech_provider, "777777777777777", "888888888888888", "15550001111")
    assert refused(api, account, body(text="hi")) == (
        "src +15550001111 is not a WhatsApp number of this account."
    )


def test_an_inactive_src_is_refused(api, account, waba) -> None:
    open_window()
    WhatsAppBusinessAccount.objects.filter(pk=waba.pk).update(status="onboarding")
    assert refused(api, account, body(text="hi")) == (
        "src +15550001111 cannot send: its WhatsApp Business Account is onboarding, not active."
    )
    WhatsAppBusinessAccount.objects.filter(pk=waba.pk).update(status="active")
    PhoneNumber.objects.filter(waba=waba).update(registration="pending")
    assert refused(api, account, body(text="hi")) == (
        "src +15550001111 cannot send: it is not registered on the WhatsApp Cloud API "
        "(registration pending)."
    )


def test_a_template_that_is_not_approved_is_refused_before_meta(api, account, waba) -> None:
    approved_template(waba, status="PENDING")
    assert refused(api, account, body(text=None, template=template_ref())) == (
        "template 'order_update' (en_US) is PENDING: only APPROVED templates can be sent."
    )


def test_an_unknown_template_is_refused(api, account, waba) -> None:
    error = refused(api, account, body(text=None, template=template_ref("nope")))
    assert error.startswith(
        "template 'nope' (en_US) does not exist for this WhatsApp Business Account."
    )


def test_a_parameter_count_that_does_not_match_the_template_is_refused(api, account, waba) -> None:
    approved_template(waba)  # "Hi {{1}}, ..."
    assert refused(
        api, account, body(text=None, template=template_ref("order_update", "a", "b"))
    ) == ("template 'order_update' (en_US) expects 1 body parameter(s); 2 given.")


def test_a_body_that_is_not_an_object_is_refused(api, account, waba) -> None:
    response = api.post(account.url("Message/"), [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "The request body must be a JSON object."


def test_without_credentials_the_answer_is_401_in_the_error_shape(account, waba) -> None:
    response = APIClient().post(account.url("Message/"), body(text="hi"), format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"api_id", "error"}


# ---------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_replays_the_first_answer(api, account, waba) -> None:
    open_window()
    first = send(api, account, body(text="hi"), **{"Idempotency-Key": "k-1"})
    again = send(api, account, body(text="hi"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["message_uuid"] == first.json()["message_uuid"]
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1


# ---------------------------------------------------------------- reading


def test_get_one_message_and_another_tech_providers_is_not_found(
    api, account, other_account, waba
) -> None:
    open_window()
    uuid = send(api, account, body(text="hi")).json()["message_uuid"][0]
    response = api.get(account.url(f"Message/{uuid}/"))
    assert response.status_code == 200
    payload = response.json()
    assert payload["message_uuid"] == uuid
    assert (payload["message_state"], payload["from_number"], payload["to_number"]) == (
        "queued",
        "15550001111",
        CUSTOMER,
    )
    assert payload["resource_uri"] == f"/v1/Account/{account.auth_id}/Message/{uuid}/"
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    missing = other.get(other_account.url(f"Message/{uuid}/"))
    assert missing.status_code == 404
    assert missing.json()["error"] == "Message not found."
    assert api.get(account.url("Message/not-a-uuid/")).json()["error"] == "Message not found."


def test_the_list_filters_by_state_number_and_time(api, account, waba) -> None:
    open_window()
    open_window("919800000002")
    for dst in ("+919800000001", "+919800000002"):
        assert send(api, account, body(dst=dst, text="hi")).status_code == 202
    delivered = Message.objects.get(dst="919800000002")
    Message.objects.filter(pk=delivered.pk).update(state="delivered", rank=3)
    listed = api.get(account.url("Message/"), {"limit": 1}).json()
    assert listed["meta"]["total_count"] == 2
    assert listed["meta"]["next"] == f"/v1/Account/{account.auth_id}/Message/?limit=1&offset=1"
    by_state = api.get(account.url("Message/"), {"message_state": "delivered"}).json()
    assert [o["to_number"] for o in by_state["objects"]] == ["919800000002"]
    by_number = api.get(account.url("Message/"), {"to_number": "+919800000001"}).json()
    assert [o["to_number"] for o in by_number["objects"]] == ["919800000001"]
    later = (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert api.get(account.url("Message/"), {"message_time__gt": later}).json()["objects"] == []
    assert (
        api.get(account.url("Message/"), {"message_time__lt": later}).json()["meta"]["total_count"]
        == 2
    )
    inbound = api.get(account.url("Message/"), {"message_direction": "inbound"}).json()
    assert inbound["objects"] == []
    bad = api.get(account.url("Message/"), {"message_state": "lost"})
    assert bad.status_code == 400


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="the static statement is used on PostgreSQL only",
)
def test_the_hot_path_sql_reads_what_the_orm_query_reads(account, other_account, waba) -> None:
    """The accept path reads with one static SQL statement on PostgreSQL and with the ORM
    elsewhere (the embedded SQLite default); both must see the same number, window and
    templates."""
    from messaging import selectors

    open_window()
    approved_template(waba)
    approved_template(waba, "old_one", status="PAUSED", template_id="2", components=[])
    make_waba(other_account.tech_provider, "777777777777777", "888888888888888", "15550001111")
    make_waba(account.tech_provider, "666666666666666", "999999999999999", "+1 (555) 000-2222")
    WhatsAppBusinessAccount.objects.filter(waba_id="666666666666666").update(status="failed")
    cases = [
        ("15550001111", CUSTOMER, ("order_update", "en_US"), ("old_one", "en_US")),
        ("15550001111", "919800000009", ("missing", "en_US"), None),
        ("15550001111", None, None, ("order_update", "en_US")),
        ("15550002222", CUSTOMER, None, None),
        ("15550003333", CUSTOMER, None, None),
    ]
    for src, dst, template, fallback in cases:
        by_sql = selectors._sender_row_sql(account.tech_provider, src, dst, template, fallback)
        by_orm = selectors._sender_row_orm(account.tech_provider, src, dst, template, fallback)
        if by_orm is not None:  # the ORM leaves out the columns nobody asked for
            by_sql = {k: v for k, v in (by_sql or {}).items() if k in by_orm or v is not None}
        assert by_sql == by_orm, (src, dst, template, fallback)
    found = selectors._sender_row_sql(account.tech_provider, "15550001111", CUSTOMER, None, None)
    assert found is not None
    assert found["window_expires"] is not None
