"""Contract: Meta's error envelope and HTTP statuses, on every error the simulator answers."""

import pytest

from sandbox.testing import inject_fault
from tests.sandbox.conftest import Graph, Onboarded


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    assert error["fbtrace_id"] == response["x-fb-trace-id"]
    return error


def test_no_token_is_code_104(db):
    response = Graph().get("123456789012345")
    assert response.status_code == 400
    assert _error(response)["code"] == 104


def test_an_invalid_token_is_code_190_with_http_401(db):
    response = Graph("EAAgarbage").get("123456789012345")
    assert response.status_code == 401
    error = _error(response)
    assert error["code"] == 190
    assert error["type"] == "OAuthException"
    assert "invalid_token" in response["WWW-Authenticate"]


def test_the_token_may_come_as_the_access_token_parameter(onboarded: Onboarded):
    response = Graph().get(onboarded.waba_id, {"access_token": onboarded.token})
    assert response.status_code == 200
    assert response.json()["id"] == onboarded.waba_id


def test_an_unknown_id_is_code_100_subcode_33(onboarded: Onboarded):
    response = onboarded.graph.get("999999999999999")
    assert response.status_code == 400
    error = _error(response)
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert error["type"] == "GraphMethodException"


def test_another_customers_waba_looks_like_a_missing_one(onboarded: Onboarded):
    other = Graph().client.post("/sandbox/control/signups/", {}, content_type="application/json")
    response = onboarded.graph.get(other.json()["waba_id"])
    assert _error(response)["error_subcode"] == 33


def test_an_unknown_edge_is_code_2500(onboarded: Onboarded):
    response = onboarded.graph.get(f"{onboarded.waba_id}/no_such_edge")
    assert response.status_code == 400
    assert _error(response)["code"] == 2500


def test_an_unknown_field_is_code_100_naming_the_node_type(onboarded: Onboarded):
    response = onboarded.graph.get(onboarded.phone_id, {"fields": "id,favourite_colour"})
    error = _error(response)
    assert error["code"] == 100
    assert "favourite_colour" in error["message"]
    assert "WhatsAppBusinessPhoneNumber" in error["message"]


def test_a_bad_json_body_is_code_100(onboarded: Onboarded):
    response = onboarded.graph.client.post(
        onboarded.graph.url(f"{onboarded.phone_id}/register"),
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {onboarded.token}"},
    )
    assert _error(response)["code"] == 100


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (4, 400),
        (80007, 400),
        (130429, 400),
        (17, 400),
        (613, 400),
        (2, 503),
        (133004, 503),
        (131000, 500),
        (10, 403),
        (200, 403),
        (190, 401),
        (100, 400),
        (132001, 404),
    ],
)
def test_injected_errors_answer_with_metas_http_status(onboarded: Onboarded, code, status):
    inject_fault("waba.get", error_code=code)
    response = onboarded.graph.get(onboarded.waba_id)
    assert response.status_code == status
    assert _error(response)["code"] == code


def test_whatsapp_errors_carry_error_data_details(onboarded: Onboarded):
    inject_fault("phone_number.register", error_code=133016)
    response = onboarded.graph.post(
        f"{onboarded.phone_id}/register", {"messaging_product": "whatsapp", "pin": "123456"}
    )
    error = _error(response)
    assert error["message"].startswith("(#133016)")
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]


def test_every_answer_carries_a_trace_id_header(onboarded: Onboarded):
    assert onboarded.graph.get(onboarded.waba_id)["x-fb-trace-id"]


def test_unversioned_paths_use_the_default_version(onboarded: Onboarded):
    response = onboarded.graph.client.get(
        f"/sandbox/graph/{onboarded.waba_id}",
        headers={"Authorization": f"Bearer {onboarded.token}"},
    )
    assert response.status_code == 200
