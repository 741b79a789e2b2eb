"""Contract: POST /{phone_number_id}/messages, the 24-hour window, templates, throughput, media."""

import json
import time
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sandbox import clock
from sandbox.models import (
    SandboxMessage,
    SandboxPhoneNumber,
    SandboxTemplate,
    SandboxWaba,
    SandboxWabaShare,
    SandboxWebhook,
)
from sandbox.services import events
from sandbox.services.bootstrap import sandbox_app_create
from sandbox.testing import configure, flush_webhooks
from tests.sandbox.conftest import CallbackServer, Onboarded, registered

CUSTOMER = "919800000001"


def _send(onboarded: Onboarded, body: dict, to: str = CUSTOMER):
    payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **body}
    return onboarded.graph.post(f"{onboarded.phone_id}/messages", payload)


def _text(onboarded: Onboarded, text: str = "Hello", to: str = CUSTOMER):
    return _send(onboarded, {"type": "text", "text": {"body": text}}, to=to)


def _open_window(onboarded: Onboarded, customer: str = CUSTOMER) -> None:
    phone = SandboxPhoneNumber.objects.get(phone_number_id=onboarded.phone_id)
    events.inbound_inject(phone=phone, from_wa_id=customer)


def _approved_template(onboarded: Onboarded, name: str = "order_update", **extra) -> str:
    body = {
        "name": name,
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."}],
        **extra,
    }
    template_id = onboarded.graph.post(f"{onboarded.waba_id}/message_templates", body).json()["id"]
    SandboxTemplate.objects.filter(template_id=template_id).update(status="APPROVED")
    return template_id


def _template_message(name: str = "order_update", params: int = 2, language: str = "en_US"):
    parameters = [{"type": "text", "text": f"p{i}"} for i in range(params)]
    return {
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": parameters}],
        },
    }


def _statuses(callback: CallbackServer) -> list[tuple[str, str]]:
    found = []
    for body in callback.post_json():
        for change in body["entry"][0]["changes"]:
            for status in change["value"].get("statuses", []):
                found.append((status["status"], status["id"]))
    return found


def test_a_text_in_the_window_answers_contacts_and_a_wamid(onboarded: Onboarded):
    registered(onboarded)
    _open_window(onboarded)
    response = _text(onboarded, to="+91 98000 00001")
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+91 98000 00001", "wa_id": CUSTOMER}]
    assert body["messages"][0]["id"].startswith("wamid.")


def test_sent_delivered_and_read_follow_each_send_in_order(
    onboarded: Onboarded, callback: CallbackServer
):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    _open_window(onboarded)
    wamid = _text(onboarded).json()["messages"][0]["id"]
    flush_webhooks()
    assert [s for s in _statuses(callback) if s[1] == wamid] == [
        ("sent", wamid),
        ("delivered", wamid),
        ("read", wamid),
    ]


def test_statuses_carry_pricing_and_our_callback_data(
    onboarded: Onboarded, callback: CallbackServer
):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    _approved_template(onboarded)
    body = {**_template_message(), "biz_opaque_callback_data": "msg-42"}
    _send(onboarded, body)
    flush_webhooks()
    value = callback.post_json()[0]["entry"][0]["changes"][0]["value"]
    status = value["statuses"][0]
    assert value["metadata"]["phone_number_id"] == onboarded.phone_id
    assert status["biz_opaque_callback_data"] == "msg-42"
    assert status["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }
    assert "conversation" not in status  # v24.0 and later


def test_free_form_outside_the_window_fails_with_131047_by_webhook(
    onboarded: Onboarded, callback: CallbackServer
):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    response = _text(onboarded)
    assert response.status_code == 200  # Cloud API accepts, then reports the failure
    flush_webhooks()
    status = callback.post_json()[0]["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131047
    assert "24 hours" in status["errors"][0]["error_data"]["details"]


def test_free_form_outside_the_window_fails_synchronously_when_configured(onboarded: Onboarded):
    registered(onboarded)
    configure(reengagement_error="sync")
    response = _text(onboarded)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131047


def test_the_window_closes_24_hours_after_the_customers_last_message(onboarded: Onboarded):
    registered(onboarded)
    configure(reengagement_error="sync")
    _open_window(onboarded)
    clock.advance(23 * 3600)
    assert _text(onboarded).status_code == 200
    clock.advance(3600 + 1)
    assert _text(onboarded).json()["error"]["code"] == 131047


def test_a_template_may_be_sent_outside_the_window(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    response = _send(onboarded, _template_message())
    assert response.status_code == 200
    assert response.json()["messages"][0]["message_status"] == "accepted"


def test_a_template_not_approved_in_that_language_fails_with_132001(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    wrong_language = _send(onboarded, _template_message(language="pt_BR"))
    assert wrong_language.status_code == 404
    assert wrong_language.json()["error"]["code"] == 132001
    onboarded.graph.post(
        f"{onboarded.waba_id}/message_templates",
        {
            "name": "pending_one",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi"}],
        },
    )
    pending = _send(onboarded, _template_message("pending_one", params=0))
    assert pending.json()["error"]["code"] == 132001


@pytest.mark.parametrize(("status", "code"), [("PAUSED", 132015), ("DISABLED", 132016)])
def test_paused_and_disabled_templates_are_refused(onboarded: Onboarded, status, code):
    registered(onboarded)
    template_id = _approved_template(onboarded)
    SandboxTemplate.objects.filter(template_id=template_id).update(status=status)
    assert _send(onboarded, _template_message()).json()["error"]["code"] == code


def test_a_template_with_the_wrong_number_of_parameters_fails_with_132000(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    assert _send(onboarded, _template_message(params=1)).json()["error"]["code"] == 132000


def test_an_unregistered_number_cannot_send(onboarded: Onboarded):
    response = _text(onboarded)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 133010


def test_text_longer_than_4096_characters_is_refused(onboarded: Onboarded):
    registered(onboarded)
    _open_window(onboarded)
    assert _text(onboarded, "x" * 4096).status_code == 200
    assert _text(onboarded, "x" * 4097).json()["error"]["code"] == 100


@pytest.mark.parametrize(
    "interactive",
    [
        {
            "type": "button",
            "body": {"text": "Pick"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
        },
        {
            "type": "list",
            "body": {"text": "Pick"},
            "action": {
                "button": "Menu",
                "sections": [{"title": "S", "rows": [{"id": "r", "title": "R"}]}],
            },
        },
        {
            "type": "cta_url",
            "body": {"text": "See"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Go", "url": "https://x.test"},
            },
        },
    ],
)
def test_interactive_messages_are_accepted_in_the_window(onboarded: Onboarded, interactive):
    registered(onboarded)
    _open_window(onboarded)
    assert _send(onboarded, {"type": "interactive", "interactive": interactive}).status_code == 200


def test_four_reply_buttons_are_refused(onboarded: Onboarded):
    registered(onboarded)
    _open_window(onboarded)
    buttons = [{"type": "reply", "reply": {"id": str(i), "title": str(i)}} for i in range(4)]
    interactive = {"type": "button", "body": {"text": "Pick"}, "action": {"buttons": buttons}}
    response = _send(onboarded, {"type": "interactive", "interactive": interactive})
    assert response.json()["error"]["code"] == 131009


def test_missing_messaging_product_or_recipient_is_code_100(onboarded: Onboarded):
    registered(onboarded)
    response = onboarded.graph.post(
        f"{onboarded.phone_id}/messages", {"to": CUSTOMER, "type": "text", "text": {"body": "x"}}
    )
    assert response.json()["error"]["code"] == 100
    assert (
        _send(onboarded, {"type": "text", "text": {"body": "x"}}, to="").json()["error"]["code"]
        == 100
    )


def test_media_is_uploaded_sent_by_id_and_downloaded_with_the_token(onboarded: Onboarded):
    registered(onboarded)
    _open_window(onboarded)
    upload = SimpleUploadedFile("photo.png", b"\x89PNG fake bytes", content_type="image/png")
    media_id = onboarded.graph.client.post(
        onboarded.graph.url(f"{onboarded.phone_id}/media"),
        {"messaging_product": "whatsapp", "type": "image/png", "file": upload},
        headers={"Authorization": f"Bearer {onboarded.token}"},
    ).json()["id"]
    sent = _send(onboarded, {"type": "image", "image": {"id": media_id, "caption": "hi"}})
    assert sent.status_code == 200
    info = onboarded.graph.get(media_id).json()
    assert info["mime_type"] == "image/png"
    assert info["file_size"] == len(b"\x89PNG fake bytes")
    url = info["url"]
    assert Client().get(url).status_code == 401
    content = Client().get(url, headers={"Authorization": f"Bearer {onboarded.token}"})
    assert content.status_code == 200
    assert content.content == b"\x89PNG fake bytes"


def test_a_media_url_expires_after_five_minutes(onboarded: Onboarded):
    phone = SandboxPhoneNumber.objects.get(phone_number_id=onboarded.phone_id)
    message, _ = events.inbound_inject(phone=phone, from_wa_id=CUSTOMER, kind="image")
    media_id = message.payload["image"]["id"]
    url = onboarded.graph.get(media_id).json()["url"]
    later = time.time() + 301
    with mock.patch("sandbox.services.media.time.time", return_value=later):
        assert (
            Client().get(url, headers={"Authorization": f"Bearer {onboarded.token}"}).status_code
            == 404
        )


def test_an_unknown_media_id_is_refused(onboarded: Onboarded):
    registered(onboarded)
    _open_window(onboarded)
    response = _send(onboarded, {"type": "image", "image": {"id": "123456789012345"}})
    assert response.json()["error"]["code"] == 100


def test_throughput_over_the_numbers_rate_is_130429(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    SandboxPhoneNumber.objects.filter(phone_number_id=onboarded.phone_id).update(throughput_mps=3)
    codes = [
        _send(onboarded, _template_message(), to=f"9198000000{i:02d}").status_code for i in range(4)
    ]
    assert codes == [200, 200, 200, 400]
    assert SandboxMessage.objects.filter(direction="out").count() == 3


def test_the_pair_rate_limit_is_131056(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    configure(pair_rate_burst=2)
    results = [_send(onboarded, _template_message()).json() for _ in range(3)]
    assert results[2]["error"]["code"] == 131056


def test_a_magic_recipient_gets_a_failed_status(onboarded: Onboarded, callback: CallbackServer):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    _approved_template(onboarded)
    _send(onboarded, _template_message(), to="15550131026")
    flush_webhooks()
    statuses = [
        json.loads(r.body)["entry"][0]["changes"][0]["value"]["statuses"][0]
        for r in callback.posts()
    ]
    assert [(s["status"], s["errors"][0]["code"]) for s in statuses] == [("failed", 131026)]


def _status_rows(wamid: str) -> list[tuple[str, str, str]]:
    """(status, app id, row status) of a message's status webhooks, in the order queued (which
    is also the delivery order: later statuses have later due times)."""
    rows = SandboxWebhook.objects.filter(description__endswith=wamid[:40]).order_by("id")
    return [
        (
            json.loads(row.body)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"],
            row.app.app_id,
            row.status,
        )
        for row in rows.select_related("app")
    ]


def test_a_send_queues_one_row_per_status_and_app_in_order(onboarded: Onboarded):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    other, _token = sandbox_app_create(app_id="100000000000777", secret="other-secret")
    SandboxWabaShare.objects.create(
        waba=SandboxWaba.objects.get(waba_id=onboarded.waba_id), app=other
    )
    configure(delivered_after_ms=100, read_after_ms=200)
    _approved_template(onboarded)
    wamid = _send(onboarded, _template_message()).json()["messages"][0]["id"]
    ours, theirs = settings.SANDBOX_APP_ID, other.app_id
    due = list(
        SandboxWebhook.objects.filter(description__endswith=wamid[:40])
        .order_by("id")
        .values_list("deliver_after", flat=True)
    )
    assert due == sorted(due)
    assert _status_rows(wamid) == [
        ("sent", ours, "pending"),
        ("sent", theirs, "skipped"),  # shared, not subscribed: kept to show why nothing went
        ("delivered", ours, "pending"),
        ("delivered", theirs, "skipped"),
        ("read", ours, "pending"),
        ("read", theirs, "skipped"),
    ]
    message = SandboxMessage.objects.get(wamid=wamid)
    assert (message.status, message.error_code) == ("read", None)


def test_a_failed_send_leaves_the_message_failed_with_its_code(onboarded: Onboarded):
    registered(onboarded)
    _approved_template(onboarded)
    wamid = _send(onboarded, _template_message(), to="15550131026").json()["messages"][0]["id"]
    message = SandboxMessage.objects.get(wamid=wamid)
    assert (message.status, message.error_code) == ("failed", 131026)


def test_a_template_send_reads_and_writes_in_a_bounded_number_of_queries(
    onboarded: Onboarded, django_assert_max_num_queries
):
    registered(onboarded)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    _approved_template(onboarded)
    _send(onboarded, _template_message(), to="919800000077")  # warm: config row, bootstrap
    with django_assert_max_num_queries(17):  # 28 when each status was queued on its own
        response = _send(onboarded, _template_message())
    assert response.status_code == 200
