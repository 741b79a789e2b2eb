"""The control API and the management command: simulated signups, config, clock, reset, apps."""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from sandbox.models import SandboxCall, SandboxPhoneNumber, SandboxWaba, SandboxWebhook
from sandbox.testing import flush_webhooks
from tests.sandbox.conftest import CallbackServer, Graph, exchange


def _post(path: str, body: dict | None = None):
    return Client().post(f"/sandbox/control/{path}", body or {}, content_type="application/json")


def test_a_signup_answers_code_and_ids(db):
    response = _post("signups/")
    assert response.status_code == 201
    body = response.json()
    assert {"code", "waba_id", "phone_number_id", "business_id"} <= set(body)
    assert body["event"] == "FINISH"
    assert body["session_info"] == {
        "data": {
            "waba_id": body["waba_id"],
            "business_id": body["business_id"],
            "phone_number_id": body["phone_number_id"],
        },
        "type": "WA_EMBEDDED_SIGNUP",
        "event": "FINISH",
        "version": 3,
    }
    token = exchange(body["code"])
    assert Graph(token).get(body["waba_id"]).status_code == 200


def test_a_signup_can_choose_names_numbers_and_currency(db):
    body = _post(
        "signups/",
        {
            "business_name": "Acme Shoes",
            "waba_name": "Acme WA",
            "currency": "INR",
            "display_phone_number": "+91 98000 12345",
            "verified_name": "Acme",
        },
    ).json()
    waba = SandboxWaba.objects.get(waba_id=body["waba_id"])
    assert (waba.name, waba.currency, waba.business.name) == ("Acme WA", "INR", "Acme Shoes")
    phone = SandboxPhoneNumber.objects.get(phone_number_id=body["phone_number_id"])
    assert (phone.display_phone_number, phone.verified_name) == ("919800012345", "Acme")


def test_a_returning_customer_reuses_its_business_waba_and_number(db):
    first = _post("signups/").json()
    again = _post(
        "signups/",
        {
            "business_id": first["business_id"],
            "waba_id": first["waba_id"],
            "phone_number_id": first["phone_number_id"],
        },
    ).json()
    assert (again["waba_id"], again["phone_number_id"]) == (
        first["waba_id"],
        first["phone_number_id"],
    )
    assert again["code"] != first["code"]


def test_finish_only_waba_has_no_number(db):
    body = _post("signups/", {"event": "FINISH_ONLY_WABA"}).json()
    assert body["phone_number_id"] is None
    assert "phone_number_id" not in body["session_info"]["data"]
    assert body["session_info"]["event"] == "FINISH_ONLY_WABA"


def test_a_coexistence_signup_has_a_registered_20_mps_number(db):
    body = _post("signups/", {"event": "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"}).json()
    phone = SandboxPhoneNumber.objects.get(phone_number_id=body["phone_number_id"])
    assert phone.is_coexistence
    assert phone.is_registered
    assert phone.throughput_mps == 20


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "FINISH_LATER"},
        {"currency": "JPY"},
        {"business_id": "1"},
        {"display_phone_number": "12"},
        {"app_id": "999"},
    ],
)
def test_a_bad_signup_is_refused_and_creates_nothing(db, bad):
    response = _post("signups/", bad)
    assert response.status_code in (400, 404)
    assert "error" in response.json()
    assert not SandboxWaba.objects.exists()


def test_a_bad_body_is_refused(db):
    response = Client().post("/sandbox/control/signups/", "[1]", content_type="application/json")
    assert response.status_code == 400
    assert Client().get("/sandbox/control/signups/").status_code == 405


def test_another_partner_app_can_be_created_and_used(db):
    created = _post("apps/", {"app_id": "200000000000002", "secret": "s3cret", "name": "TP App"})
    assert created.status_code == 201
    body = created.json()
    signup = _post("signups/", {"app_id": "200000000000002"}).json()
    token = (
        Graph()
        .get(
            "oauth/access_token",
            {
                "client_id": "200000000000002",
                "client_secret": "s3cret",
                "code": signup["code"],
            },
        )
        .json()["access_token"]
    )
    assert Graph(token).get(signup["waba_id"]).status_code == 200
    extended = Graph(body["system_user_token"]).get(f"{body['business_id']}/extendedcredits")
    assert extended.json()["data"][0]["id"] == body["credit_line_id"]
    assert _post("apps/", {"app_id": "200000000000002", "secret": "x"}).status_code == 409


def test_config_is_read_and_changed(db):
    assert Client().get("/sandbox/control/config/").json()["reengagement_error"] == "webhook"
    changed = _post("config/", {"reengagement_error": "sync", "read_after_ms": None}).json()
    assert changed["reengagement_error"] == "sync"
    assert changed["read_after_ms"] is None
    assert _post("config/", {"colour": "blue"}).status_code == 400
    assert _post("config/", {"reengagement_error": "smoke"}).status_code == 400


def test_the_clock_advances_and_resets(db):
    before = Client().delete("/sandbox/control/clock/").json()["now"]
    later = _post("clock/", {"advance_s": 3600}).json()["now"]
    assert later > before
    assert _post("clock/", {"advance_s": -1}).status_code == 400


def test_calls_are_listed_and_cleared(db):
    Graph("nope").get("123456789012345")
    listed = Client().get("/sandbox/control/calls/", {"endpoint": "node.get"}).json()
    assert listed["count"] == 1
    assert listed["data"][0]["error_code"] == 190
    Client().delete("/sandbox/control/calls/")
    assert not SandboxCall.objects.exists()


def test_reset_forgets_everything(db):
    _post("signups/")
    assert _post("reset/").json() == {"reset": True}
    assert not SandboxWaba.objects.exists()
    assert _post("signups/").status_code == 201  # the partner app comes back


def test_the_phone_number_control_changes_what_meta_reports(db):
    signup = _post("signups/").json()
    path = f"phone-numbers/{signup['phone_number_id']}/"
    body = _post(path, {"quality_rating": "RED", "throughput_mps": 5, "status": "FLAGGED"}).json()
    assert (body["quality_rating"], body["throughput_mps"], body["status"]) == ("RED", 5, "FLAGGED")
    assert _post(path, {"quality_rating": "PURPLE"}).status_code == 400
    assert _post("phone-numbers/1/", {}).status_code == 404


def _command(*args: str) -> dict:
    out = StringIO()
    call_command("sandbox", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_command_signs_up_and_injects_inbound_duplicates(db, callback: CallbackServer):
    signup = _command("signup", "--business-name", "Cli Co")
    assert signup["waba_id"]
    Graph(exchange(signup["code"])).post(f"{signup['waba_id']}/subscribed_apps")
    result = _command(
        "inbound",
        "--phone-number-id",
        signup["phone_number_id"],
        "--from",
        "15550001234",
        "--text",
        "hi",
        "--duplicate",
        "1",
    )
    assert result["wamid"].startswith("wamid.")
    assert [h["status"] for h in result["delivered"]] == ["delivered", "delivered"]
    inbound = [p for p in callback.posts() if b'"messages"' in p.body]
    assert len(inbound) == 2


def test_the_command_reorders_statuses_and_redelivers(db, callback: CallbackServer):
    signup = _command("signup", "--no-send")
    graph = Graph(exchange(signup["code"]))
    graph.post(f"{signup['waba_id']}/subscribed_apps")
    graph.post(
        f"{signup['phone_number_id']}/register", {"messaging_product": "whatsapp", "pin": "123456"}
    )
    _command("inbound", "--phone-number-id", signup["phone_number_id"], "--from", "15550001234")
    wamid = graph.post(
        f"{signup['phone_number_id']}/messages",
        {
            "messaging_product": "whatsapp",
            "to": "15550001234",
            "type": "text",
            "text": {"body": "x"},
        },
    ).json()["messages"][0]["id"]
    flush_webhooks()
    callback.received.clear()
    queued = _command("statuses", "--wamid", wamid, "--order", "read,sent", "--no-send")
    assert len(queued["queued"]) == 2
    redelivered = _command("redeliver", "--webhook-id", str(queued["queued"][0]["id"]))
    statuses = [
        json.loads(p.body)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
        for p in callback.posts()
    ]
    assert statuses == ["read", "sent", "read"]
    assert len(redelivered["delivered"]) == 3


def test_the_command_injects_and_clears_faults_and_lists_calls(db):
    fault = _command("fault", "--endpoint", "waba.get", "--error-code", "4", "--times", "2")
    assert fault["times"] == 2
    assert _command("faults-clear") == {"cleared": 1}
    Graph("nope").get("123456789012345")
    assert _command("calls")["calls"][0]["error_code"] == 190
    assert _command("config", "template_review_delay_s=0") == {"template_review_delay_s": 0}


def test_the_command_reports_unknown_objects(db):
    with pytest.raises(CommandError):
        call_command("sandbox", "inbound", "--phone-number-id", "1", stdout=StringIO())
    assert settings.SANDBOX_APP_ID
    assert not SandboxWebhook.objects.exists()
