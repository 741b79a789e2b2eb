"""Fault injection: Meta errors for the next N calls, latency, timeouts, dropped connections."""

import time

import pytest
import requests
from django.conf import settings
from django.test import Client

from sandbox.models import SandboxFault
from sandbox.selectors import sandbox_calls
from sandbox.testing import clear_faults, inject_fault, simulate_signup
from tests.sandbox.conftest import Onboarded, registered, wait_for_call

REGISTER = {"messaging_product": "whatsapp", "pin": "123456"}


def test_an_error_applies_to_the_next_n_calls_then_the_endpoint_recovers(onboarded: Onboarded):
    inject_fault("phone_number.register", error_code=2, times=2)
    codes = [
        onboarded.graph.post(f"{onboarded.phone_id}/register", REGISTER).status_code
        for _ in range(3)
    ]
    assert codes == [503, 503, 200]
    calls = sandbox_calls(endpoint="phone_number.register")
    assert [c.error_code for c in calls] == [2, 2, None]
    assert calls[0].fault.startswith("fault #")


def test_a_fault_without_effect_leaves_state_untouched(onboarded: Onboarded):
    inject_fault("phone_number.register", error_code=133004)
    onboarded.graph.post(f"{onboarded.phone_id}/register", REGISTER)
    phone = onboarded.graph.get(onboarded.phone_id, {"fields": "status"}).json()
    assert phone["status"] == "PENDING"


def test_an_error_with_effect_happens_and_still_answers_the_error(onboarded: Onboarded):
    inject_fault("phone_number.register", error_code=131000, with_effect=True)
    response = onboarded.graph.post(f"{onboarded.phone_id}/register", REGISTER)
    assert response.status_code == 500
    phone = onboarded.graph.get(onboarded.phone_id, {"fields": "status"}).json()
    assert phone["status"] == "CONNECTED"


def test_a_fault_can_target_one_object(onboarded: Onboarded):
    other = simulate_signup()
    inject_fault("waba.get", error_code=4, object_id=other["waba_id"], times=None)
    assert onboarded.graph.get(onboarded.waba_id).status_code == 200


def test_a_star_fault_matches_every_endpoint_until_cleared(onboarded: Onboarded):
    inject_fault("*", error_code=80007, times=None)
    assert onboarded.graph.get(onboarded.waba_id).json()["error"]["code"] == 80007
    assert onboarded.graph.get(onboarded.phone_id).json()["error"]["code"] == 80007
    assert clear_faults() == 1
    assert onboarded.graph.get(onboarded.waba_id).status_code == 200


def test_a_custom_message_and_subcode_are_answered(onboarded: Onboarded):
    inject_fault("waba.get", error_code=190, error_subcode=460, error_message="Password changed")
    error = onboarded.graph.get(onboarded.waba_id).json()["error"]
    assert (error["message"], error["error_subcode"]) == ("Password changed", 460)


def test_latency_delays_the_answer(onboarded: Onboarded):
    inject_fault("waba.get", kind="latency", latency_ms=300)
    started = time.monotonic()
    assert onboarded.graph.get(onboarded.waba_id).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_an_error_fault_needs_a_code(db):
    with pytest.raises(Exception, match="error"):
        inject_fault("waba.get", kind="error")


def test_faults_are_created_listed_and_cleared_over_the_control_api(db):
    client = Client()
    created = client.post(
        "/sandbox/control/faults/",
        {"endpoint": "credit_line.share", "error_code": 4, "times": 3},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["times"] == 3
    listed = client.get("/sandbox/control/faults/").json()["data"]
    assert [f["endpoint"] for f in listed] == ["credit_line.share"]
    assert client.delete(f"/sandbox/control/faults/{created.json()['id']}/").json() == {
        "cleared": 1
    }
    assert not SandboxFault.objects.filter(is_active=True).exists()


def test_the_control_api_refuses_a_bad_fault(db):
    response = Client().post(
        "/sandbox/control/faults/",
        {"endpoint": "x", "kind": "explode"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "error" in response.json()


# Over real HTTP: the client must see its own timeout, or a connection closed without answer.


@pytest.fixture
def live_signup(live_server, settings):
    settings.SANDBOX_WEBHOOK_DISPATCH = "manual"
    signup = simulate_signup()
    token = requests.get(
        f"{live_server.url}/sandbox/graph/v26.0/oauth/access_token",
        params={
            "client_id": settings.SANDBOX_APP_ID,
            "client_secret": settings.SANDBOX_APP_SECRET,
            "code": signup["code"],
        },
        timeout=5,
    ).json()["access_token"]
    return live_server.url, signup, {"Authorization": f"Bearer {token}"}


def test_a_timeout_fault_outlasts_the_clients_timeout(live_signup):
    base, signup, headers = live_signup
    inject_fault("waba.get", kind="timeout", latency_ms=1500)
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{base}/sandbox/graph/v26.0/{signup['waba_id']}", headers=headers, timeout=0.5
        )
    assert (
        requests.get(
            f"{base}/sandbox/graph/v26.0/{signup['waba_id']}", headers=headers, timeout=5
        ).status_code
        == 200
    )


def test_a_timeout_with_effect_registers_although_the_caller_never_hears(live_signup):
    base, signup, headers = live_signup
    inject_fault("phone_number.register", kind="timeout", latency_ms=1000, with_effect=True)
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{base}/sandbox/graph/v26.0/{signup['phone_number_id']}/register",
            json=REGISTER,
            headers=headers,
            timeout=0.3,
        )
    wait_for_call("phone_number.register")  # the server finished holding the request
    phone = requests.get(
        f"{base}/sandbox/graph/v26.0/{signup['phone_number_id']}",
        params={"fields": "status"},
        headers=headers,
        timeout=5,
    ).json()
    assert phone["status"] == "CONNECTED"


def test_a_dropped_connection_is_a_connection_error_for_the_client(live_signup):
    base, signup, headers = live_signup
    inject_fault("waba.get", kind="drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/sandbox/graph/v26.0/{signup['waba_id']}", headers=headers, timeout=5)
    call = sandbox_calls(endpoint="waba.get").get()
    assert call.status_code is None
    assert call.fault.endswith("drop")


def test_registration_through_faults_still_counts_real_calls(onboarded: Onboarded):
    inject_fault("phone_number.register", error_code=2)
    onboarded.graph.post(f"{onboarded.phone_id}/register", REGISTER)
    registered(onboarded)
    assert sandbox_calls(endpoint="phone_number.register", succeeded=True).count() == 1
    assert settings.SANDBOX_APP_ID
