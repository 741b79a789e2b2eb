"""Staff tools: the create_tech_provider command and the admin's create and rotate flows."""

import base64
import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from onboarding.models import TechProvider

pytestmark = pytest.mark.django_db


def can_call(auth_id: str, token: str) -> bool:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode()
    )
    return client.get(f"/v1/Account/{auth_id}/WhatsApp/EmbeddedSignup/").status_code == 200


def test_the_command_prints_working_credentials_once_as_json():
    out = StringIO()
    call_command("create_tech_provider", "--name", "Acme", "--json", stdout=out)
    creds = json.loads(out.getvalue())
    assert set(creds) == {"auth_id", "auth_token", "public_id"}
    assert creds["auth_id"].startswith("MA")
    assert len(creds["auth_id"]) == 20
    assert len(creds["auth_token"]) == 40
    tp = TechProvider.objects.get(auth_id=creds["auth_id"])
    assert tp.public_id == creds["public_id"]
    assert creds["auth_token"] not in tp.auth_token_hash
    assert can_call(creds["auth_id"], creds["auth_token"])


def test_the_command_flags_set_the_account_flags():
    out = StringIO()
    call_command(
        "create_tech_provider",
        "--name",
        "X",
        "--no-whatsapp",
        "--no-tech-provider-permission",
        "--mps-inactive",
        "--json",
        stdout=out,
    )
    tp = TechProvider.objects.get(auth_id=json.loads(out.getvalue())["auth_id"])
    assert (tp.whatsapp_enabled, tp.tech_provider_permission, tp.mps_status) == (
        False,
        False,
        "inactive",
    )


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_creates_a_tech_provider_and_shows_the_token_once(staff):
    response = staff.post(
        "/admin/onboarding/techprovider/add/",
        {
            "name": "Admin Made",
            "is_active": "on",
            "whatsapp_enabled": "on",
            "tech_provider_permission": "on",
            "mps_status": "active",
            "session_info_version": "2",
            "es_version": "v3",
            "default_currency": "USD",
        },
    )
    assert response.status_code == 200, response.content[:2000]
    assert "no-store" in response["Cache-Control"]
    tp = TechProvider.objects.get(name="Admin Made")
    page = response.content.decode()
    token = page.split('<th scope="row">Auth Token</th><td><code>')[1].split("</code>")[0]
    assert len(token) == 40
    assert can_call(tp.auth_id, token)
    change = staff.get(f"/admin/onboarding/techprovider/{tp.pk}/change/").content.decode()
    assert token not in change


def test_admin_rotates_the_token(staff):
    out = StringIO()
    call_command("create_tech_provider", "--name", "Rot", "--json", stdout=out)
    creds = json.loads(out.getvalue())
    tp = TechProvider.objects.get(auth_id=creds["auth_id"])
    response = staff.post(
        "/admin/onboarding/techprovider/",
        {"action": "rotate_auth_token", "_selected_action": [tp.pk]},
    )
    page = response.content.decode()
    token = page.split('<th scope="row">Auth Token</th><td><code>')[1].split("</code>")[0]
    assert not can_call(creds["auth_id"], creds["auth_token"])
    assert can_call(creds["auth_id"], token)


def test_admin_searches_wabas_by_phone_number_id_and_auth_id(staff, api, account):
    api.post(
        account.url(),
        {"waba_id": "1234567", "business_id": "7654321", "phone_number_id": "5555555"},
        format="json",
    )
    link = (
        f"/admin/onboarding/whatsappbusinessaccount/{account.tech_provider.wabas.get().pk}/change/"
    )
    for term in ("5555555", account.auth_id, "1234567"):
        assert (
            link
            in staff.get("/admin/onboarding/whatsappbusinessaccount/", {"q": term}).content.decode()
        ), term
    assert (
        link
        not in staff.get(
            "/admin/onboarding/whatsappbusinessaccount/", {"q": "4040404"}
        ).content.decode()
    )
    assert "subscribe_webhooks" in staff.get(link).content.decode()


def test_admin_shows_each_tech_providers_signup_funnel(staff, account):
    from onboarding.models import SignupSession

    tp = account.tech_provider
    for i, (status, step) in enumerate(
        [
            ("opened", ""),
            ("cancelled", "PHONE_NUMBER_SETUP"),
            ("cancelled", "PHONE_NUMBER_SETUP"),
            ("cancelled", "BUSINESS_ACCOUNT_SELECTION"),
            ("errored", ""),
            ("finished", ""),
        ]
    ):
        SignupSession.objects.create(
            tech_provider=tp, nonce_hash=f"{i:064d}", status=status, current_step=step
        )
    page = staff.get(f"/admin/onboarding/techprovider/{tp.pk}/change/").content.decode()
    assert "<td>Pages opened</td><td>6</td>" in page
    assert "<td>Cancelled</td><td>3</td>" in page
    assert "<td>Errored</td><td>1</td>" in page
    assert "<td>PHONE_NUMBER_SETUP</td><td>2</td>" in page
    assert '<svg role="img" aria-label="Signup funnel"' in page
    assert staff.get("/admin/onboarding/signupsession/").status_code == 200
