"""The Connect page's endpoint: one code exchange, debug_token checks, nonce binding, funnel rows.

Meta's HTTP is faked with `responses`; everything else (database, services, DRF, CSRF) is real.
"""

import json
import re
from datetime import timedelta

import pytest
import responses
from django.conf import settings
from django.test import Client
from django.utils import timezone

from onboarding.models import SignupSession, WhatsAppBusinessAccount
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

APP_ID = "123456789012345"
APP_SECRET = "tp-app-secret-abcdef0123456789"
WABA, PHONE, BUSINESS = "104996789012345", "106999900000001", "203456789012345"
TOKEN = "EAAG-business-token-abcdefghijklmnop0123"
GRAPH = f"{settings.GRAPH_API_BASE_URL}/{settings.GRAPH_API_VERSION}"


@pytest.fixture
def tp():
    return make_account(
        meta_app_id=APP_ID, meta_config_id="987654321", meta_app_secret=APP_SECRET
    ).tech_provider


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def open_page(browser: Client, tp, reference: str = "") -> dict:
    response = browser.get(
        f"/connect/{tp.public_id}/", {"reference": reference} if reference else {}
    )
    assert response.status_code == 200
    match = re.search(
        r'<script id="connect-config" type="application/json">(.*?)</script>',
        response.content.decode(),
    )
    assert match is not None
    return dict(json.loads(match.group(1)))


def submit(browser: Client, config: dict, body: dict):
    return browser.post(
        config["submitUrl"],
        json.dumps({"nonce": config["nonce"], **body}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=config["csrfToken"],
    )


def finish(waba: str = WABA) -> dict:
    return {
        "code": "the-code",
        "event": "FINISH",
        "data": {"waba_id": waba, "phone_number_id": PHONE, "business_id": BUSINESS},
    }


def meta_ok(target_ids=(WABA,), *, app_id: str = APP_ID, is_valid: bool = True) -> None:
    responses.get(
        f"{GRAPH}/oauth/access_token",
        json={"access_token": TOKEN, "token_type": "bearer", "expires_in": 5183944},
    )
    responses.get(
        f"{GRAPH}/debug_token",
        json={
            "data": {
                "app_id": app_id,
                "type": "SYSTEM_USER",
                "application": "TP app",
                "is_valid": is_valid,
                "expires_at": int((timezone.now() + timedelta(days=60)).timestamp()),
                "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
                "granular_scopes": [
                    {"scope": "whatsapp_business_management", "target_ids": list(target_ids)},
                    {"scope": "whatsapp_business_messaging", "target_ids": list(target_ids)},
                ],
            }
        },
    )


def calls_to(path: str) -> int:
    return sum(1 for call in responses.calls if str(call.request.url).split("?")[0].endswith(path))


@responses.activate
def test_a_finished_signup_exchanges_the_code_once_and_starts_onboarding(browser, tp):
    meta_ok()
    config = open_page(browser, tp, reference="crm-1")
    response = submit(browser, config, finish())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["waba_id"] == WABA
    assert calls_to("oauth/access_token") == 1
    exchange = str(responses.calls[0].request.url)
    assert f"client_id={APP_ID}" in exchange
    assert "code=the-code" in exchange
    debug = responses.calls[1].request
    assert debug.headers["Authorization"] == f"Bearer {APP_ID}|{APP_SECRET}"
    waba = WhatsAppBusinessAccount.objects.get()
    assert (waba.reference, waba.tech_provider_id, waba.business_token) == ("crm-1", tp.pk, TOKEN)
    expires_at = waba.business_token_expires_at
    assert expires_at is not None
    assert expires_at > timezone.now() + timedelta(days=59)
    session = SignupSession.objects.get(waba=waba)
    assert (session.status, session.event) == ("finished", "FINISH")
    status = browser.get(body["status_url"]).json()
    assert status["status"] == "pending"
    assert [s["name"] for s in status["steps"]][0] == "subscribe_webhooks"


@responses.activate
def test_a_reused_code_is_a_clear_error_and_is_not_retried(browser, tp):
    responses.get(
        f"{GRAPH}/oauth/access_token",
        status=400,
        json={
            "error": {
                "message": "This authorization code has been used.",
                "type": "OAuthException",
                "code": 100,
                "fbtrace_id": "AbCdEf",
            }
        },
    )
    config = open_page(browser, tp)
    response = submit(browser, config, finish())
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "This sign-in was already used or took too long. Click Connect WhatsApp to start again."
    )
    assert response.json()["nonce"] != config["nonce"]  # a fresh page nonce to start again with
    assert calls_to("oauth/access_token") == 1
    assert calls_to("debug_token") == 0
    assert not WhatsAppBusinessAccount.objects.exists()
    session = SignupSession.objects.get(nonce_hash__isnull=False, status="rejected")
    assert session.rejection_reason.startswith("Meta 100:")


@responses.activate
def test_a_timeout_on_the_exchange_is_not_retried(browser, tp):
    import requests

    responses.get(f"{GRAPH}/oauth/access_token", body=requests.ConnectTimeout("timed out"))
    response = submit(browser, open_page(browser, tp), finish())
    assert response.status_code == 400
    assert response.json()["error"].startswith("We could not reach Meta to confirm your sign-in.")
    assert calls_to("oauth/access_token") == 1


@responses.activate
def test_a_waba_missing_from_the_granted_targets_is_refused(browser, tp):
    meta_ok(target_ids=("555555555",))
    response = submit(browser, open_page(browser, tp), finish())
    assert response.status_code == 400
    assert "was not shared with us" in response.json()["error"]
    assert not WhatsAppBusinessAccount.objects.exists()
    assert (
        "not among granted ['555555555']"
        in SignupSession.objects.get(status="rejected").rejection_reason
    )


@responses.activate
def test_the_waba_is_taken_from_the_granted_targets_when_the_browser_sent_none(browser, tp):
    meta_ok()
    body = finish()
    body["data"] = {"phone_number_id": PHONE, "business_id": BUSINESS}
    assert submit(browser, open_page(browser, tp), body).status_code == 200
    assert WhatsAppBusinessAccount.objects.get().waba_id == WABA


@responses.activate
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"is_valid": False}, "not valid"), ({"app_id": "999"}, "token of app 999")],
)
def test_an_invalid_token_or_another_apps_token_is_refused(browser, tp, kwargs, reason):
    meta_ok(**kwargs)
    response = submit(browser, open_page(browser, tp), finish())
    assert response.status_code == 400
    assert not WhatsAppBusinessAccount.objects.exists()
    assert reason in SignupSession.objects.get(status="rejected").rejection_reason


@responses.activate
def test_the_nonce_works_once_and_only_for_its_tech_provider(browser, tp):
    meta_ok()
    config = open_page(browser, tp)
    other = make_account("Other", meta_app_id=APP_ID, meta_app_secret=APP_SECRET).tech_provider
    foreign = {**config, "submitUrl": f"/connect/{other.public_id}/signup/"}
    assert (
        submit(browser, foreign, finish()).json()["error"]
        == "This page has expired. Reload it and try again."
    )
    assert submit(browser, config, finish()).status_code == 200
    again = submit(browser, config, finish("104996789099999"))
    assert again.json()["error"] == "This page has expired. Reload it and try again."
    assert calls_to("oauth/access_token") == 1


def test_a_post_without_the_csrf_token_is_refused(browser, tp):
    config = open_page(browser, tp)
    response = browser.post(
        config["submitUrl"],
        json.dumps({"nonce": config["nonce"], **finish()}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not SignupSession.objects.filter(submitted_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("event", "data", "status"),
    [
        ("CANCEL", {"current_step": "PHONE_NUMBER_SETUP"}, "cancelled"),
        (
            "CANCEL",
            {
                "error_message": "Phone number already in use",
                "error_code": "524126",
                "session_id": "s1",
            },
            "errored",
        ),
        ("ERROR", {"error_message": "Something broke"}, "errored"),
    ],
)
def test_abandoned_dialogs_are_recorded_for_the_funnel(browser, tp, event, data, status):
    response = submit(browser, open_page(browser, tp), {"code": None, "event": event, "data": data})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    session = SignupSession.objects.get(submitted_at__isnull=False)
    assert session.status == status
    assert session.current_step == data.get("current_step", "")
    assert session.error_message == data.get("error_message", "")
    from onboarding.selectors import signup_funnel

    funnel = signup_funnel(tech_provider=tp)
    assert funnel[status] == 1
    assert funnel["opened"] == 2  # the page, and the fresh nonce for trying again


@responses.activate
def test_an_already_registered_waba_gets_a_customer_message(browser, tp):
    meta_ok()
    assert submit(browser, open_page(browser, tp), finish()).status_code == 200
    meta_ok()
    response = submit(browser, open_page(browser, tp), finish())
    assert response.json()["error"] == "This WhatsApp Business Account is already connected."


@responses.activate
def test_no_token_or_code_is_stored_in_plain_text(browser, tp):
    from django.db import connection

    meta_ok()
    submit(browser, open_page(browser, tp), finish())
    with connection.cursor() as cursor:
        cursor.execute("SELECT business_token FROM onboarding_whatsappbusinessaccount")
        (stored,) = cursor.fetchone()
        cursor.execute(
            "SELECT nonce_hash, status_token_hash, rejection_reason FROM onboarding_signupsession"
        )
        rows = cursor.fetchall()
    assert stored
    assert TOKEN not in stored
    assert all("the-code" not in " ".join(row) for row in rows)


def test_the_page_sends_a_strict_csp_with_a_nonce(browser, tp):
    response = browser.get(f"/connect/{tp.public_id}/")
    policy = response["Content-Security-Policy"]
    found = re.search(r"'nonce-([^']+)'", policy)
    assert found is not None
    nonce = found.group(1)
    assert f'nonce="{nonce}"' in response.content.decode()
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.content.decode()


def test_an_unknown_page_is_404(browser):
    assert browser.get("/connect/nope/").status_code == 404


def test_an_unknown_page_in_the_json_endpoints_is_a_404_in_the_api_shape(browser):
    for response in (
        browser.get("/connect/nope/status/some-token/"),
        browser.post("/connect/nope/signup/", "{}", content_type="application/json"),
    ):
        assert response.status_code in (403, 404)
    status = browser.get("/connect/nope/status/some-token/")
    assert status.status_code == 404
    assert status.json()["error"] == "Resource not found."


def test_an_unknown_status_token_is_a_404(browser, tp):
    response = browser.get(f"/connect/{tp.public_id}/status/not-a-token/")
    assert response.status_code == 404
    assert response.json()["error"] == "Signup not found."
