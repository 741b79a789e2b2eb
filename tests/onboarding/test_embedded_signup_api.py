"""The EmbeddedSignup API: the seed's error table word for word, success, tenancy and paging."""

from collections.abc import Mapping

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from onboarding.models import Onboarding, OnboardingStep, PhoneNumber, WhatsAppBusinessAccount
from tests.conftest import Account, make_account

pytestmark = pytest.mark.django_db

VALID = {
    "waba_id": "104996789012345",
    "business_id": "203456789012345",
    "phone_number_id": "1069999000001",
}


def post(api: APIClient, account: Account, body: Mapping[str, object], fmt: str = "json"):
    return api.post(account.url(), body, format=fmt)


def assert_error(response, status: int, message: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"api_id", "error"}
    assert body["error"] == message
    assert len(body["api_id"]) == 36


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "waba_id is required."),
        (
            {"business_id": "203456789012345", "phone_number_id": "1069999000001"},
            "waba_id is required.",
        ),
        ({"waba_id": "104996789012345"}, "business_id is required."),
        (
            {"waba_id": "104996789012345", "phone_number_id": "1069999000001"},
            "business_id is required.",
        ),
        (
            {"waba_id": "104996789012345", "business_id": "203456789012345"},
            "phone_number_id is required.",
        ),
        ({**VALID, "waba_id": ""}, "waba_id is required."),
        ({**VALID, "waba_id": "   "}, "waba_id is required."),
        ({**VALID, "waba_id": "abc123"}, "waba_id is not a valid WhatsApp Business Account ID."),
        ({**VALID, "waba_id": "12-34567"}, "waba_id is not a valid WhatsApp Business Account ID."),
        ({**VALID, "waba_id": "1" * 33}, "waba_id is not a valid WhatsApp Business Account ID."),
        ({**VALID, "waba_id": True}, "waba_id is not a valid WhatsApp Business Account ID."),
        ({**VALID, "waba_id": {"x": 1}}, "waba_id is not a valid WhatsApp Business Account ID."),
        ({**VALID, "business_id": "biz"}, "business_id is not a valid Meta Business ID."),
        (
            {**VALID, "phone_number_id": "+15551234567"},
            "phone_number_id is not a valid phone number ID.",
        ),
        ({**VALID, "reference": "r" * 65}, "reference must be at most 64 characters."),
        ({**VALID, "reference": ["a"]}, "reference must be a string."),
    ],
)
def test_it_rejects_invalid_input_with_the_documented_message(api, account, body, message):
    assert_error(post(api, account, body), 400, message)
    assert not WhatsAppBusinessAccount.objects.exists()
    assert not PhoneNumber.objects.exists()


def test_required_fields_are_checked_in_the_documented_order_in_form_bodies(api, account):
    assert_error(
        post(api, account, {"phone_number_id": "1"}, fmt="multipart"), 400, "waba_id is required."
    )
    response = api.post(
        account.url(), "waba_id=104996789012345", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 400, "business_id is required.")


def test_it_accepts_a_form_encoded_signup(api, account):
    response = api.post(
        account.url(),
        "waba_id=104996789012345&business_id=203456789012345&phone_number_id=1069999000001&reference=cust-1",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert response.json()["reference"] == "cust-1"


def test_it_accepts_ids_sent_as_json_numbers(api, account):
    response = post(
        api,
        account,
        {
            "waba_id": 104996789012345,
            "business_id": 203456789012345,
            "phone_number_id": 1069999000001,
        },
    )
    assert response.status_code == 200
    assert response.json()["waba_id"] == "104996789012345"


def test_a_success_records_the_waba_number_and_onboarding_and_answers_its_status(api, account):
    response = post(api, account, {**VALID, "reference": "customer-42"})
    assert response.status_code == 200
    body = response.json()
    resource = account.url(f"WhatsApp/EmbeddedSignup/{VALID['waba_id']}/")
    assert body == {
        "api_id": body["api_id"],
        "message": "Embedded Signup accepted; the WABA is being onboarded.",
        "waba_id": VALID["waba_id"],
        "business_id": VALID["business_id"],
        "phone_number_id": VALID["phone_number_id"],
        "reference": "customer-42",
        "status": "onboarding",
        "onboarding_status": "pending",
        "resource_uri": resource,
        "status_url": f"http://127.0.0.1:8000{resource}",
    }
    waba = WhatsAppBusinessAccount.objects.get()
    assert waba.tech_provider == account.tech_provider
    assert waba.phone_numbers.get().phone_number_id == VALID["phone_number_id"]
    steps = list(OnboardingStep.objects.filter(onboarding__waba=waba).values_list("name", "status"))
    assert steps == [
        ("subscribe_webhooks", "pending"),
        ("share_credit_line", "pending"),
        ("register_phone_number", "pending"),
        ("fetch_phone_number", "pending"),
        ("activate", "pending"),
    ]
    assert waba.onboarding.events.get().reason == "Embedded Signup accepted"


@override_settings(PLATFORM_NAME="Plivo")
def test_a_waba_already_onboarded_is_refused_naming_the_platform(api, account):
    assert post(api, account, VALID).status_code == 200
    assert_error(post(api, account, VALID), 400, "This WABA is already registered with Plivo.")
    assert Onboarding.objects.count() == 1


def test_a_waba_of_another_tech_provider_is_refused_the_same_way(api, account, other_account):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    assert post(other, other_account, VALID).status_code == 200
    assert_error(post(api, account, VALID), 400, "This WABA is already registered with Relay.")
    assert WhatsAppBusinessAccount.objects.get().tech_provider == other_account.tech_provider


def test_a_phone_number_under_another_waba_is_refused(api, account):
    assert post(api, account, VALID).status_code == 200
    response = post(api, account, {**VALID, "waba_id": "104996789099999"})
    assert_error(response, 400, "This phone number is already registered under another WABA.")
    assert WhatsAppBusinessAccount.objects.count() == 1


@override_settings(PLATFORM_NAME="Plivo")
def test_an_inactive_multi_partner_solution_is_refused(db):
    account = make_account(mps_status="inactive")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=account.basic)
    message = "Multi-Partner Solution is not active for your app. Contact Plivo support."
    assert_error(post(api, account, VALID), 400, message)
    assert not WhatsAppBusinessAccount.objects.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"whatsapp_enabled": False},
            "WhatsApp is not enabled for your account. Contact Relay support.",
        ),
        (
            {"tech_provider_permission": False},
            "Your account does not have Tech Provider permission. Contact Relay support.",
        ),
    ],
)
def test_accounts_without_access_get_a_distinct_403(db, flags, message):
    account = make_account(**flags)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=account.basic)
    assert_error(post(api, account, VALID), 403, message)
    assert_error(api.get(account.url()), 403, message)
    assert not WhatsAppBusinessAccount.objects.exists()


def test_an_unexpected_error_is_a_generic_500_without_a_trace(api, account, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("onboarding.apis.embedded_signup_submit", explode)
    response = post(api, account, VALID)
    assert_error(response, 500, "An unexpected error occurred. Retry after a short delay.")
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_an_offboarded_waba_can_be_onboarded_again(api, account):
    assert post(api, account, VALID).status_code == 200
    WhatsAppBusinessAccount.objects.update(status="offboarded")
    response = post(api, account, {**VALID, "reference": "again"})
    assert response.status_code == 200
    onboarding = Onboarding.objects.get()
    assert onboarding.status == "pending"
    last = onboarding.events.last()
    assert last is not None
    assert last.reason == "Re-onboarding an offboarded WABA"


def test_malformed_json_is_a_400_in_the_api_shape(api, account):
    response = api.post(account.url(), "{not json", content_type="application/json")
    assert_error(response, 400, "The request body could not be parsed.")


def test_an_unknown_method_is_a_405_in_the_api_shape(api, account):
    response = api.put(account.url(), VALID, format="json")
    assert_error(response, 405, "Method PUT is not allowed on this resource.")


def test_an_unknown_route_is_a_404_in_the_api_shape(api, account):
    assert_error(api.get(account.url("WhatsApp/Nope/")), 404, "Resource not found.")


def test_the_list_shows_only_the_callers_wabas_in_plivos_shape(api, account, other_account):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    post(api, account, VALID)
    post(other, other_account, {**VALID, "waba_id": "777777777", "phone_number_id": "888888888"})
    body = api.get(account.url()).json()
    assert body["meta"] == {
        "limit": 20,
        "offset": 0,
        "next": None,
        "previous": None,
        "total_count": 1,
    }
    assert [w["waba_id"] for w in body["objects"]] == [VALID["waba_id"]]


def test_the_list_pages_with_limit_and_offset(api, account):
    for i in range(25):
        post(
            api,
            account,
            {
                "waba_id": f"5000000{i:02d}",
                "business_id": "203456789012345",
                "phone_number_id": f"6000000{i:02d}",
            },
        )
    first = api.get(account.url() + "?limit=10").json()
    assert first["meta"]["total_count"] == 25
    assert first["meta"]["previous"] is None
    assert first["meta"]["next"] == account.url() + "?limit=10&offset=10"
    assert [w["waba_id"] for w in first["objects"]][:2] == ["500000024", "500000023"]
    last = api.get(first["meta"]["next"].replace("offset=10", "offset=20")).json()
    assert len(last["objects"]) == 5
    assert last["meta"]["next"] is None
    assert last["meta"]["previous"] == account.url() + "?limit=10&offset=10"
    seen = {
        w["waba_id"]
        for page in (0, 10, 20)
        for w in api.get(account.url() + f"?limit=10&offset={page}").json()["objects"]
    }
    assert len(seen) == 25


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "offset=-1"])
def test_bad_paging_parameters_are_a_400(api, account, query):
    response = api.get(account.url() + "?" + query)
    assert response.status_code == 400
    assert "must be an integer between" in response.json()["error"]


def test_the_list_filters_by_status_and_reference(api, account):
    post(api, account, {**VALID, "reference": "a"})
    post(
        api,
        account,
        {
            "waba_id": "5000001",
            "business_id": "203456789012345",
            "phone_number_id": "6000001",
            "reference": "b",
        },
    )
    WhatsAppBusinessAccount.objects.filter(waba_id="5000001").update(status="active")
    assert [
        w["reference"] for w in api.get(account.url() + "?status=active").json()["objects"]
    ] == ["b"]
    assert [w["waba_id"] for w in api.get(account.url() + "?reference=a").json()["objects"]] == [
        VALID["waba_id"]
    ]


def test_the_detail_shows_numbers_steps_and_audit_rows(api, account):
    post(api, account, VALID)
    body = api.get(account.url(f"WhatsApp/EmbeddedSignup/{VALID['waba_id']}/")).json()
    assert body["phone_numbers"][0]["phone_number_id"] == VALID["phone_number_id"]
    assert [s["name"] for s in body["onboarding"]["steps"]][0] == "subscribe_webhooks"
    assert body["onboarding"]["events"][0]["to_status"] == "pending"
    assert "business_token" not in body
    assert "webhook_verify_token" not in body


def test_another_tech_providers_waba_answers_exactly_like_an_unknown_one(
    api, account, other_account
):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    post(other, other_account, VALID)
    foreign = api.get(account.url(f"WhatsApp/EmbeddedSignup/{VALID['waba_id']}/"))
    unknown = api.get(account.url("WhatsApp/EmbeddedSignup/999999999/"))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"] == unknown.json()["error"] == "WABA not found."
    assert set(foreign.json()) == set(unknown.json()) == {"api_id", "error"}


def test_coexistence_and_waba_only_signups_skip_registration_and_say_why(account):
    from onboarding.services.signup import embedded_signup_submit
    from onboarding.signup_input import signup_input_validate

    coexistence = embedded_signup_submit(
        tech_provider=account.tech_provider,
        signup=signup_input_validate(VALID),
        signup_event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
    )
    step = coexistence.steps.get(name="register_phone_number")
    assert step.status == "skipped"
    assert "Coexistence" in step.note
    assert PhoneNumber.objects.get().is_coexistence
    only_waba = embedded_signup_submit(
        tech_provider=account.tech_provider,
        signup=signup_input_validate(
            {"waba_id": "3333333", "business_id": "4444444"}, require_phone_number=False
        ),
        signup_event="FINISH_ONLY_WABA",
    )
    skipped = set(only_waba.steps.filter(status="skipped").values_list("name", flat=True))
    assert skipped == {"register_phone_number", "fetch_phone_number"}


def test_the_detail_shows_the_newest_hundred_audit_rows_and_the_total(api, account):
    from onboarding.models import OnboardingEvent

    post(api, account, VALID)
    onboarding = Onboarding.objects.get()
    OnboardingEvent.objects.bulk_create(
        OnboardingEvent(onboarding=onboarding, to_status="waiting", reason=f"r{i}")
        for i in range(150)
    )
    body = api.get(account.url(f"WhatsApp/EmbeddedSignup/{VALID['waba_id']}/")).json()["onboarding"]
    assert body["events_total"] == 151
    assert len(body["events"]) == 100
    assert body["events"][-1]["reason"] == "r149"
    assert body["events"][0]["reason"] == "r50"
