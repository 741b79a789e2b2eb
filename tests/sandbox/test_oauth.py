"""Contract: oauth/access_token (30-second single-use codes, refresh) and debug_token."""

from django.conf import settings

from sandbox import clock
from sandbox.selectors import sandbox_calls
from sandbox.testing import simulate_signup
from tests.sandbox.conftest import Graph, exchange

APP_TOKEN = f"{settings.SANDBOX_APP_ID}|{settings.SANDBOX_APP_SECRET}"


def _exchange(code: str, secret: str = settings.SANDBOX_APP_SECRET, client_id: str = ""):
    return Graph().get(
        "oauth/access_token",
        {"client_id": client_id or settings.SANDBOX_APP_ID, "client_secret": secret, "code": code},
    )


def test_a_code_becomes_a_bearer_business_token(db):
    signup = simulate_signup()
    response = _exchange(signup["code"])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("EAA")
    assert body["expires_in"] == settings.SANDBOX_BUSINESS_TOKEN_TTL_S


def test_a_code_works_once_and_then_says_it_has_been_used(db):
    code = simulate_signup()["code"]
    assert _exchange(code).status_code == 200
    again = _exchange(code)
    assert again.status_code == 400
    error = again.json()["error"]
    assert error["message"] == "This authorization code has been used."
    assert error["code"] == 100
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    assert sandbox_calls(endpoint="oauth.access_token", succeeded=True).count() == 1
    assert sandbox_calls(endpoint="oauth.access_token").count() == 2


def test_a_code_expires_thirty_seconds_after_the_dialog_issued_it(db):
    code = simulate_signup()["code"]
    clock.advance(settings.SANDBOX_CODE_TTL_S + 0.5)
    response = _exchange(code)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "This authorization code has expired."
    assert response.json()["error"]["code"] == 100


def test_a_code_still_works_just_before_it_expires(db):
    code = simulate_signup()["code"]
    clock.advance(settings.SANDBOX_CODE_TTL_S - 1)
    assert _exchange(code).status_code == 200


def test_a_wrong_client_secret_or_app_is_refused_and_the_code_survives(db):
    code = simulate_signup()["code"]
    wrong_secret = _exchange(code, secret="nope")
    assert wrong_secret.status_code == 400
    assert wrong_secret.json()["error"]["message"] == "Error validating client secret."
    wrong_app = _exchange(code, client_id="123456789")
    assert wrong_app.json()["error"]["code"] == 101
    assert _exchange(code).status_code == 200


def test_an_unknown_code_is_invalid(db):
    response = _exchange("AQnot-a-code")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_a_business_token_can_be_refreshed_for_the_same_wabas(db):
    signup = simulate_signup()
    token = exchange(signup["code"])
    response = Graph().get(
        "oauth/access_token",
        {
            "grant_type": "fb_exchange_token",
            "client_id": settings.SANDBOX_APP_ID,
            "client_secret": settings.SANDBOX_APP_SECRET,
            "fb_exchange_token": token,
        },
    )
    fresh = response.json()["access_token"]
    assert fresh != token
    assert Graph(fresh).get(signup["waba_id"]).status_code == 200


def test_debug_token_shows_validity_app_expiry_and_the_waba_in_target_ids(db):
    signup = simulate_signup()
    token = exchange(signup["code"])
    data = Graph(APP_TOKEN).get("debug_token", {"input_token": token}).json()["data"]
    assert data["is_valid"] is True
    assert data["app_id"] == settings.SANDBOX_APP_ID
    assert data["type"] == "SYSTEM_USER"
    assert data["expires_at"] > data["issued_at"]
    scopes = {s["scope"]: s["target_ids"] for s in data["granular_scopes"]}
    assert scopes["whatsapp_business_management"] == [signup["waba_id"]]
    assert scopes["whatsapp_business_messaging"] == [signup["waba_id"]]
    assert "whatsapp_business_management" in data["scopes"]


def test_debug_token_lists_the_newest_signup_first_for_a_returning_business(db):
    first = simulate_signup()
    second = simulate_signup(business_id=first["business_id"])
    token = exchange(second["code"])
    data = Graph(APP_TOKEN).get("debug_token", {"input_token": token}).json()["data"]
    targets = data["granular_scopes"][0]["target_ids"]
    assert targets == [second["waba_id"], first["waba_id"]]


def test_debug_token_works_with_the_system_user_token_too(db):
    token = exchange(simulate_signup()["code"])
    graph = Graph(settings.SANDBOX_SYSTEM_USER_TOKEN)
    assert graph.get("debug_token", {"input_token": token}).json()["data"]["is_valid"] is True


def test_debug_token_of_garbage_is_answered_not_valid_with_code_190(db):
    data = Graph(APP_TOKEN).get("debug_token", {"input_token": "garbage"}).json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["code"] == 190


def test_debug_token_of_an_expired_token_is_not_valid(db):
    token = exchange(simulate_signup()["code"])
    clock.advance(settings.SANDBOX_BUSINESS_TOKEN_TTL_S + 1)
    data = Graph(APP_TOKEN).get("debug_token", {"input_token": token}).json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["subcode"] == 463


def test_an_expired_business_token_is_refused_with_190_and_subcode_463(db):
    signup = simulate_signup()
    token = exchange(signup["code"])
    clock.advance(settings.SANDBOX_BUSINESS_TOKEN_TTL_S + 1)
    response = Graph(token).get(signup["waba_id"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
    assert response.json()["error"]["error_subcode"] == 463


def test_a_wrong_app_secret_in_an_app_token_is_refused(db):
    response = Graph(f"{settings.SANDBOX_APP_ID}|wrong").get("debug_token", {"input_token": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190
