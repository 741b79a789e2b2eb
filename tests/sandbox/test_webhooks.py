"""Webhooks the sandbox sends: signed as Meta signs, shaped as Meta's, routed where Meta sends
them, retried, duplicated and reordered on demand, delivered off the request that caused them."""

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.test import Client

from sandbox import clock
from sandbox.models import SandboxPhoneNumber, SandboxWaba, SandboxWebhook
from sandbox.services import events
from sandbox.testing import flush_webhooks, simulate_signup, wait_for_webhooks
from tests.sandbox.conftest import CallbackServer, Onboarded, registered

CUSTOMER = "919800000001"


def _our_check(body: bytes, header: str) -> bool:
    """The platform's rule, written out: HMAC-SHA256 of the raw bytes with META_APP_SECRET."""
    expected = (
        "sha256=" + hmac.new(settings.META_APP_SECRET[0].encode(), body, hashlib.sha256).hexdigest()
    )
    return hmac.compare_digest(expected, header)


def _subscribe(onboarded: Onboarded, callback: CallbackServer, override: bool = True) -> str:
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    path = f"/webhooks/meta/waba/{onboarded.waba_id}/"
    if override:
        onboarded.graph.post(
            f"{onboarded.waba_id}/subscribed_apps",
            {"override_callback_uri": callback.url + path, "verify_token": callback.verify_token},
        )
    callback.received.clear()
    return path


def _inbound(onboarded: Onboarded, **options) -> str:
    phone = SandboxPhoneNumber.objects.select_related("waba").get(
        phone_number_id=onboarded.phone_id
    )
    message, _ = events.inbound_inject(phone=phone, from_wa_id=CUSTOMER, **options)
    return message.wamid


def test_every_webhook_passes_the_signature_check_and_fails_with_one_byte_changed(
    onboarded: Onboarded, callback: CallbackServer
):
    _subscribe(onboarded, callback)
    _inbound(onboarded, text="Grüße, ça va? 🙂")  # non-ASCII: the raw bytes are signed
    flush_webhooks()
    (post,) = callback.posts()
    header = post.headers["X-Hub-Signature-256"]
    assert header.startswith("sha256=")
    assert _our_check(post.body, header)
    tampered = bytearray(post.body)
    tampered[len(tampered) // 2] ^= 0x01
    assert not _our_check(bytes(tampered), header)
    assert post.headers["Content-Type"] == "application/json"


def test_the_messaging_apps_verifier_accepts_it_too(onboarded: Onboarded, callback: CallbackServer):
    signing = pytest.importorskip("messaging.signing")
    _subscribe(onboarded, callback)
    _inbound(onboarded)
    flush_webhooks()
    (post,) = callback.posts()
    header = post.headers["X-Hub-Signature-256"]
    assert signing.meta_signature_valid(post.body, header, settings.META_APP_SECRET)
    changed = post.body.replace(b"Hello", b"Hellp")
    assert not signing.meta_signature_valid(changed, header, settings.META_APP_SECRET)


def test_an_inbound_message_has_metas_shape_and_goes_to_the_waba_override(
    onboarded: Onboarded, callback: CallbackServer
):
    path = _subscribe(onboarded, callback)
    wamid = _inbound(onboarded, text="Is my order shipped?", profile_name="Asha")
    flush_webhooks()
    (post,) = callback.posts()
    assert post.path == path
    body = json.loads(post.body)
    assert body["object"] == "whatsapp_business_account"
    entry = body["entry"][0]
    assert entry["id"] == onboarded.waba_id
    assert "time" not in entry  # messages entries carry none
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == onboarded.phone_id
    assert value["contacts"] == [{"profile": {"name": "Asha"}, "wa_id": CUSTOMER}]
    message = value["messages"][0]
    assert (message["from"], message["id"], message["type"]) == (CUSTOMER, wamid, "text")
    assert message["text"] == {"body": "Is my order shipped?"}
    assert message["timestamp"].isdigit()


def test_without_an_override_messages_go_to_the_app_level_url(
    onboarded: Onboarded, callback: CallbackServer
):
    _subscribe(onboarded, callback, override=False)
    _inbound(onboarded)
    flush_webhooks()
    assert [p.path for p in callback.posts()] == ["/webhooks/meta/"]


def test_a_phone_number_override_wins_over_the_wabas(
    onboarded: Onboarded, callback: CallbackServer
):
    _subscribe(onboarded, callback)
    onboarded.graph.post(
        onboarded.phone_id,
        {
            "webhook_configuration": {
                "override_callback_uri": f"{callback.url}/number/",
                "verify_token": callback.verify_token,
            }
        },
    )
    _inbound(onboarded)
    flush_webhooks()
    assert [p.path for p in callback.posts()] == ["/number/"]


def test_nothing_is_sent_for_a_waba_the_app_is_not_subscribed_to(
    onboarded: Onboarded, callback: CallbackServer
):
    _inbound(onboarded)
    flush_webhooks()
    assert callback.posts() == []
    assert SandboxWebhook.objects.get(field="messages").status == "skipped"


def test_partner_added_goes_to_the_app_level_url_with_the_partners_business_as_entry_id(
    db, callback: CallbackServer
):
    signup = simulate_signup()
    flush_webhooks()
    (post,) = callback.posts()
    assert post.path == "/webhooks/meta/"
    entry = json.loads(post.body)["entry"][0]
    assert entry["id"] == settings.SANDBOX_PARTNER_BUSINESS_ID
    assert entry["changes"] == [
        {
            "value": {
                "event": "PARTNER_ADDED",
                "waba_info": {
                    "waba_id": signup["waba_id"],
                    "owner_business_id": signup["business_id"],
                },
            },
            "field": "account_update",
        }
    ]


def test_a_failed_delivery_is_retried_on_schedule(
    onboarded: Onboarded, callback: CallbackServer, settings
):
    settings.SANDBOX_WEBHOOK_RETRY_DELAYS_S = [10.0]
    _subscribe(onboarded, callback)
    callback.post_status = 500
    _inbound(onboarded)
    flush_webhooks(ignore_delays=False)
    hook = SandboxWebhook.objects.get(field="messages")
    assert (hook.status, hook.attempts, hook.last_status_code) == ("pending", 1, 500)
    assert flush_webhooks(ignore_delays=False) == []  # not due yet
    callback.post_status = 200
    clock.advance(11)
    flush_webhooks(ignore_delays=False)
    hook.refresh_from_db()
    assert (hook.status, hook.attempts) == ("delivered", 2)
    assert len(callback.posts()) == 2
    assert callback.posts()[0].body == callback.posts()[1].body


def test_delivery_gives_up_after_the_last_retry(
    onboarded: Onboarded, callback: CallbackServer, settings
):
    settings.SANDBOX_WEBHOOK_RETRY_DELAYS_S = [1.0]
    _subscribe(onboarded, callback)
    callback.post_status = 503
    _inbound(onboarded)
    flush_webhooks()
    flush_webhooks()
    assert SandboxWebhook.objects.get(field="messages").status == "failed"


def test_inbound_duplicates_are_the_same_bytes(onboarded: Onboarded, callback: CallbackServer):
    _subscribe(onboarded, callback)
    _inbound(onboarded, duplicate=2)
    flush_webhooks()
    bodies = [p.body for p in callback.posts()]
    assert len(bodies) == 3
    assert len(set(bodies)) == 1


def test_statuses_can_be_injected_out_of_order_duplicated_and_batched(
    onboarded: Onboarded, callback: CallbackServer
):
    registered(onboarded)
    _subscribe(onboarded, callback)
    _inbound(onboarded)
    wamid = onboarded.graph.post(
        f"{onboarded.phone_id}/messages",
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}},
    ).json()["messages"][0]["id"]
    flush_webhooks()
    callback.received.clear()
    client = Client()
    reordered = client.post(
        f"/sandbox/control/messages/{wamid}/statuses/",
        {"statuses": ["read", "delivered", "sent"], "duplicate": 1},
        content_type="application/json",
    )
    assert reordered.status_code == 201
    batched = client.post(
        f"/sandbox/control/messages/{wamid}/statuses/",
        {"statuses": ["delivered", "read"], "batch": True},
        content_type="application/json",
    )
    assert batched.status_code == 201
    flush_webhooks()
    seen = [
        [s["status"] for s in json.loads(p.body)["entry"][0]["changes"][0]["value"]["statuses"]]
        for p in callback.posts()
    ]
    assert seen == [
        ["read"],
        ["read"],
        ["delivered"],
        ["delivered"],
        ["sent"],
        ["sent"],
        ["delivered", "read"],
    ]


def test_inbound_messages_over_the_control_api_open_the_window(
    onboarded: Onboarded, callback: CallbackServer
):
    registered(onboarded)
    _subscribe(onboarded, callback)
    response = Client().post(
        "/sandbox/control/inbound/",
        {
            "phone_number_id": onboarded.phone_id,
            "from": CUSTOMER,
            "type": "image",
            "text": "a photo",
            "media_base64": "aGVsbG8=",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    image = response.json()["message"]["image"]
    assert image["mime_type"] == "image/png"
    assert image["caption"] == "a photo"
    media = onboarded.graph.get(image["id"]).json()
    assert media["file_size"] == 5
    sent = onboarded.graph.post(
        f"{onboarded.phone_id}/messages",
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "ok"}},
    )
    assert sent.status_code == 200


def test_quality_updates_go_to_the_app_level_url(onboarded: Onboarded, callback: CallbackServer):
    _subscribe(onboarded, callback)
    response = Client().post(
        f"/sandbox/control/phone-numbers/{onboarded.phone_id}/quality/",
        {"event": "FLAGGED", "quality_rating": "YELLOW", "messaging_limit_tier": "TIER_2K"},
        content_type="application/json",
    )
    assert response.status_code == 201
    flush_webhooks()
    (post,) = callback.posts()
    assert post.path == "/webhooks/meta/"
    change = json.loads(post.body)["entry"][0]["changes"][0]
    assert change["field"] == "phone_number_quality_update"
    assert change["value"]["event"] == "FLAGGED"
    assert change["value"]["max_daily_conversations_per_business"] == "TIER_2K"
    rating = onboarded.graph.get(onboarded.phone_id, {"fields": "quality_rating"}).json()
    assert rating["quality_rating"] == "YELLOW"


def test_partner_removed_is_sent_and_the_partner_loses_access(
    onboarded: Onboarded, callback: CallbackServer
):
    _subscribe(onboarded, callback)
    response = Client().post(
        f"/sandbox/control/wabas/{onboarded.waba_id}/account-update/",
        {"event": "PARTNER_REMOVED"},
        content_type="application/json",
    )
    assert response.status_code == 201
    flush_webhooks()
    value = json.loads(callback.posts()[0].body)["entry"][0]["changes"][0]["value"]
    assert value["event"] == "PARTNER_REMOVED"
    assert value["waba_info"]["waba_id"] == onboarded.waba_id
    assert onboarded.graph.get(onboarded.waba_id).json()["error"]["error_subcode"] == 33


def test_other_account_updates_use_the_waba_as_entry_id(
    onboarded: Onboarded, callback: CallbackServer
):
    _subscribe(onboarded, callback)
    Client().post(
        f"/sandbox/control/wabas/{onboarded.waba_id}/account-update/",
        {"event": "DISABLED_UPDATE", "extra": {"ban_info": {"waba_ban_state": "DISABLE"}}},
        content_type="application/json",
    )
    flush_webhooks()
    entry = json.loads(callback.posts()[0].body)["entry"][0]
    assert entry["id"] == onboarded.waba_id
    assert entry["changes"][0]["value"]["ban_info"] == {"waba_ban_state": "DISABLE"}


def test_a_webhook_can_be_redelivered(onboarded: Onboarded, callback: CallbackServer):
    _subscribe(onboarded, callback)
    _inbound(onboarded)
    flush_webhooks()
    hook = SandboxWebhook.objects.get(field="messages")
    response = Client().post(
        f"/sandbox/control/webhooks/{hook.pk}/redeliver/",
        {"times": 2},
        content_type="application/json",
    )
    assert response.status_code == 201
    Client().post("/sandbox/control/flush/", {}, content_type="application/json")
    assert len({p.body for p in callback.posts()}) == 1
    assert len(callback.posts()) == 3


@pytest.mark.django_db(transaction=True)
def test_the_background_dispatcher_delivers_without_a_flush(callback: CallbackServer, settings):
    settings.SANDBOX_WEBHOOK_DISPATCH = "thread"
    signup = simulate_signup()  # PARTNER_ADDED is queued; the commit wakes the dispatcher
    assert wait_for_webhooks(timeout=10)
    assert SandboxWebhook.objects.get().status == "delivered"
    assert (
        json.loads(callback.posts()[0].body)["entry"][0]["changes"][0]["value"]["waba_info"][
            "waba_id"
        ]
        == signup["waba_id"]
    )
    assert SandboxWaba.objects.count() == 1
