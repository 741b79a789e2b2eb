"""The call log: every call recorded with its endpoint and result, secrets masked."""

import json

from django.conf import settings

from sandbox.models import SandboxCall
from sandbox.selectors import sandbox_calls
from sandbox.testing import simulate_signup
from tests.sandbox.conftest import Graph, Onboarded, exchange


def test_a_code_exchange_is_logged_without_the_code_or_secret(db):
    code = simulate_signup()["code"]
    token = exchange(code)
    call = sandbox_calls(endpoint="oauth.access_token").get()
    assert (call.method, call.status_code, call.error_code) == ("GET", 200, None)
    assert call.params["client_id"] == settings.SANDBOX_APP_ID
    assert call.params["client_secret"] == "***"
    assert call.params["code"] == "***" + code[-4:]
    assert call.response is not None
    assert call.response["access_token"] == "***" + token[-4:]
    stored = json.dumps([call.params, call.response])
    assert code not in stored
    assert token not in stored
    assert settings.SANDBOX_APP_SECRET not in stored


def test_pins_and_verify_tokens_are_masked(onboarded: Onboarded):
    onboarded.graph.post(
        f"{onboarded.phone_id}/register", {"messaging_product": "whatsapp", "pin": "482913"}
    )
    onboarded.graph.post(
        f"{onboarded.waba_id}/subscribed_apps",
        {"override_callback_uri": "http://127.0.0.1:9/x", "verify_token": "very-secret-verify"},
    )
    stored = json.dumps(list(SandboxCall.objects.values_list("params", flat=True)))
    assert "482913" not in stored
    assert "very-secret-verify" not in stored


def test_the_token_kind_and_hint_are_recorded_not_the_token(onboarded: Onboarded):
    onboarded.graph.get(onboarded.waba_id)
    call = sandbox_calls(endpoint="waba.get").get()
    assert (call.token_kind, call.token_hint) == ("BUSINESS", onboarded.token[-4:])
    assert call.object_id == onboarded.waba_id
    assert call.version == "v26.0"
    assert call.fbtrace_id


def test_the_selector_filters_by_endpoint_object_error_and_success(onboarded: Onboarded):
    graph = onboarded.graph
    graph.post(f"{onboarded.phone_id}/register", {"messaging_product": "whatsapp", "pin": "1"})
    graph.post(f"{onboarded.phone_id}/register", {"messaging_product": "whatsapp", "pin": "111111"})
    register = sandbox_calls(endpoint="phone_number.register", object_id=onboarded.phone_id)
    assert register.count() == 2
    assert sandbox_calls(endpoint="phone_number.register", succeeded=True).count() == 1
    assert sandbox_calls(endpoint="phone_number.register", error_code=100).count() == 1
    assert sandbox_calls(method="post").count() == 2
    first = register.first()
    assert first is not None
    assert sandbox_calls(since=first.received_at).count() >= 2


def test_failed_authentication_is_logged_too(db):
    Graph("bad-token").get("123456789012345/phone_numbers")
    call = SandboxCall.objects.get()
    assert (call.endpoint, call.status_code, call.error_code) == ("waba.phone_numbers", 401, 190)
