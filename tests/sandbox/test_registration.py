"""Contract: register and deregister, two-step PINs, the 10-per-72-hours limit, number fields."""

import pytest
from django.test import Client

from sandbox import clock
from sandbox.testing import simulate_signup
from tests.sandbox.conftest import Graph, Onboarded, exchange

FIELDS = (
    "display_phone_number,verified_name,quality_rating,status,code_verification_status,"
    "name_status,throughput,messaging_limit_tier"
)


def _register(onboarded: Onboarded, pin: str = "123456", **extra: str):
    body = {"messaging_product": "whatsapp", "pin": pin, **extra}
    return onboarded.graph.post(f"{onboarded.phone_id}/register", body)


def _deregister(onboarded: Onboarded):
    return onboarded.graph.post(f"{onboarded.phone_id}/deregister")


def test_registering_connects_the_number_and_sets_its_pin(onboarded: Onboarded):
    before = onboarded.graph.get(onboarded.phone_id, {"fields": "status,is_pin_enabled"}).json()
    assert before == {"status": "PENDING", "is_pin_enabled": False, "id": onboarded.phone_id}
    assert _register(onboarded).json() == {"success": True}
    after = onboarded.graph.get(onboarded.phone_id, {"fields": "status,is_pin_enabled"}).json()
    assert after["status"] == "CONNECTED"
    assert after["is_pin_enabled"] is True


def test_registering_again_with_the_same_pin_succeeds(onboarded: Onboarded):
    _register(onboarded)
    assert _register(onboarded).status_code == 200


def test_a_later_register_with_another_pin_fails_with_133005(onboarded: Onboarded):
    _register(onboarded, "111111")
    response = _register(onboarded, "222222")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 133005
    assert "PIN Mismatch" in error["message"]


def test_deregistering_keeps_the_pin(onboarded: Onboarded):
    _register(onboarded, "111111")
    assert _deregister(onboarded).json() == {"success": True}
    assert onboarded.graph.get(onboarded.phone_id, {"fields": "status"}).json()["status"] != (
        "CONNECTED"
    )
    assert _register(onboarded, "222222").json()["error"]["code"] == 133005
    assert _register(onboarded, "111111").status_code == 200


@pytest.mark.parametrize("pin", ["12345", "1234567", "12a456", ""])
def test_a_pin_must_be_six_digits(onboarded: Onboarded, pin: str):
    response = _register(onboarded, pin)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_register_needs_messaging_product(onboarded: Onboarded):
    response = onboarded.graph.post(f"{onboarded.phone_id}/register", {"pin": "123456"})
    assert response.json()["error"]["code"] == 100


def test_an_unknown_localization_region_is_refused(onboarded: Onboarded):
    assert _register(onboarded, data_localization_region="XX").json()["error"]["code"] == 100
    assert _register(onboarded, data_localization_region="IN").status_code == 200


def test_the_eleventh_register_or_deregister_within_72_hours_fails_with_133016(
    onboarded: Onboarded,
):
    for i in range(10):
        response = _register(onboarded) if i % 2 == 0 else _deregister(onboarded)
        assert response.status_code == 200, i
    eleventh = _register(onboarded)
    assert eleventh.status_code == 400
    assert eleventh.json()["error"]["code"] == 133016
    assert _deregister(onboarded).json()["error"]["code"] == 133016


def test_failed_attempts_count_toward_the_limit(onboarded: Onboarded):
    _register(onboarded, "111111")
    for _ in range(9):
        assert _register(onboarded, "999999").json()["error"]["code"] == 133005
    assert _register(onboarded, "111111").json()["error"]["code"] == 133016


def test_the_limit_is_a_moving_72_hour_window(onboarded: Onboarded):
    for _ in range(10):
        _register(onboarded)
    clock.advance(71 * 3600)
    assert _register(onboarded).json()["error"]["code"] == 133016
    clock.advance(1 * 3600 + 1)
    assert _register(onboarded).status_code == 200


def test_a_magic_number_always_fails_registration_with_133005(db):
    signup = simulate_signup(display_phone_number="+1 555 013 3005")
    graph = Graph(exchange(signup["code"]))
    response = graph.post(
        f"{signup['phone_number_id']}/register", {"messaging_product": "whatsapp", "pin": "123456"}
    )
    assert response.json()["error"]["code"] == 133005


def test_turning_off_the_pin_in_the_control_api_lets_the_number_register(db):
    signup = simulate_signup(display_phone_number="15550133005")
    graph = Graph(exchange(signup["code"]))
    Client().post(
        f"/sandbox/control/phone-numbers/{signup['phone_number_id']}/",
        {"clear_pin": True, "register_error_code": 0},
        content_type="application/json",
    )
    response = graph.post(
        f"{signup['phone_number_id']}/register", {"messaging_product": "whatsapp", "pin": "123456"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("code", [133006, 133015, 133004])
def test_other_magic_numbers_fail_with_their_code(db, code: int):
    signup = simulate_signup(display_phone_number=f"1555{code:07d}")
    graph = Graph(exchange(signup["code"]))
    response = graph.post(
        f"{signup['phone_number_id']}/register", {"messaging_product": "whatsapp", "pin": "123456"}
    )
    assert response.json()["error"]["code"] == code


def test_a_coexistence_number_cannot_be_deregistered(db):
    signup = simulate_signup(event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")
    graph = Graph(exchange(signup["code"]))
    fields = graph.get(signup["phone_number_id"], {"fields": "status,is_on_biz_app"}).json()
    assert fields["status"] == "CONNECTED"
    assert fields["is_on_biz_app"] is True
    response = graph.post(f"{signup['phone_number_id']}/deregister")
    assert response.json()["error"]["code"] == 100


def test_get_phone_number_reports_every_detail_the_pipeline_reads(onboarded: Onboarded):
    _register(onboarded)
    body = onboarded.graph.get(onboarded.phone_id, {"fields": FIELDS}).json()
    assert body["display_phone_number"].startswith("+1 555-")
    assert body["verified_name"] == "Acme Shoes"
    assert body["quality_rating"] == "GREEN"
    assert body["status"] == "CONNECTED"
    assert body["code_verification_status"] == "VERIFIED"
    assert body["name_status"] == "APPROVED"
    assert body["throughput"] == {"level": "STANDARD"}
    assert body["messaging_limit_tier"] == "TIER_250"
    assert body["id"] == onboarded.phone_id


def test_get_phone_number_without_fields_gives_metas_default_set(onboarded: Onboarded):
    body = onboarded.graph.get(onboarded.phone_id).json()
    assert {"verified_name", "display_phone_number", "quality_rating", "id"} <= set(body)


def test_the_waba_lists_its_numbers(onboarded: Onboarded):
    data = onboarded.graph.get(f"{onboarded.waba_id}/phone_numbers").json()["data"]
    assert [n["id"] for n in data] == [onboarded.phone_id]
