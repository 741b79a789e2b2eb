"""Contract: subscribed_apps, the WABA override, and Meta's GET verification handshake."""

from typing import Any

from django.conf import settings

from sandbox.models import SandboxSubscription
from tests.sandbox.conftest import CallbackServer, Onboarded


def _override(onboarded: Onboarded, callback: CallbackServer, token: str = "") -> Any:
    return onboarded.graph.post(
        f"{onboarded.waba_id}/subscribed_apps",
        {
            "override_callback_uri": f"{callback.url}/webhooks/meta/waba/{onboarded.waba_id}/",
            "verify_token": token or callback.verify_token,
        },
    )


def test_subscribing_lists_our_app_without_an_override(onboarded: Onboarded):
    assert onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps").json() == {"success": True}
    data = onboarded.graph.get(f"{onboarded.waba_id}/subscribed_apps").json()["data"]
    assert len(data) == 1
    app = data[0]["whatsapp_business_api_data"]
    assert app["id"] == settings.SANDBOX_APP_ID
    assert app["name"]
    assert app["link"]
    assert "override_callback_uri" not in data[0]


def test_an_override_before_the_app_is_subscribed_fails_with_100(
    onboarded: Onboarded, callback: CallbackServer
):
    response = _override(onboarded, callback)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100
    assert callback.received == []  # no handshake was attempted


def test_setting_an_override_performs_the_handshake_then_lists_the_url(
    onboarded: Onboarded, callback: CallbackServer
):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    assert _override(onboarded, callback).json() == {"success": True}
    (handshake,) = callback.received
    assert handshake.method == "GET"
    assert handshake.path == f"/webhooks/meta/waba/{onboarded.waba_id}/"
    assert handshake.query["hub.mode"] == "subscribe"
    assert handshake.query["hub.verify_token"] == callback.verify_token
    assert handshake.query["hub.challenge"].isdigit()
    data = onboarded.graph.get(f"{onboarded.waba_id}/subscribed_apps").json()["data"]
    assert data[0]["override_callback_uri"].endswith(f"/waba/{onboarded.waba_id}/")


def test_a_wrong_verify_token_fails_verification_and_stores_nothing(
    onboarded: Onboarded, callback: CallbackServer
):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    response = _override(onboarded, callback, token="not-the-platforms-token")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 2200
    assert "HTTP Status Code = 403" in error["message"]
    assert SandboxSubscription.objects.get().override_callback_uri == ""


def test_an_answer_other_than_the_challenge_fails_verification(
    onboarded: Onboarded, callback: CallbackServer
):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    callback.handshake = "wrong"
    error = _override(onboarded, callback).json()["error"]
    assert error["code"] == 2200
    assert "does not match challenge" in error["message"]


def test_an_unreachable_override_fails_verification(onboarded: Onboarded):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    response = onboarded.graph.post(
        f"{onboarded.waba_id}/subscribed_apps",
        {"override_callback_uri": "http://127.0.0.1:9/nowhere/", "verify_token": "x"},
    )
    assert response.json()["error"]["code"] == 2200


def test_an_override_needs_both_fields_and_at_most_200_characters(onboarded: Onboarded):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    missing = onboarded.graph.post(
        f"{onboarded.waba_id}/subscribed_apps", {"override_callback_uri": "http://x.test/"}
    )
    assert missing.json()["error"]["code"] == 100
    long = onboarded.graph.post(
        f"{onboarded.waba_id}/subscribed_apps",
        {"override_callback_uri": "http://x.test/" + "a" * 200, "verify_token": "t"},
    )
    assert "200" in long.json()["error"]["message"]


def test_a_bodyless_post_removes_the_override(onboarded: Onboarded, callback: CallbackServer):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    _override(onboarded, callback)
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    data = onboarded.graph.get(f"{onboarded.waba_id}/subscribed_apps").json()["data"]
    assert "override_callback_uri" not in data[0]


def test_delete_unsubscribes(onboarded: Onboarded):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    assert onboarded.graph.delete(f"{onboarded.waba_id}/subscribed_apps").json() == {
        "success": True
    }
    assert onboarded.graph.get(f"{onboarded.waba_id}/subscribed_apps").json() == {"data": []}


def test_a_phone_number_override_is_verified_and_reported(
    onboarded: Onboarded, callback: CallbackServer
):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    url = f"{callback.url}/numbers/{onboarded.phone_id}/"
    response = onboarded.graph.post(
        onboarded.phone_id,
        {
            "webhook_configuration": {
                "override_callback_uri": url,
                "verify_token": callback.verify_token,
            }
        },
    )
    assert response.json() == {"success": True}
    config = onboarded.graph.get(onboarded.phone_id, {"fields": "webhook_configuration"}).json()
    assert config["webhook_configuration"]["phone_number"] == url
    assert config["webhook_configuration"]["application"].endswith("/webhooks/meta/")
