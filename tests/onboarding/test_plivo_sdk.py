"""The stock `plivo` SDK from PyPI is a real client of the EmbeddedSignup API on a live server."""

import plivo
import plivo.rest.client
import pytest
from plivo import exceptions

from onboarding.models import WhatsAppBusinessAccount
from tests.conftest import make_account

VALID = {
    "waba_id": "104996789012345",
    "business_id": "203456789012345",
    "phone_number_id": "1069999000001",
}


@pytest.fixture
def sdk_base(live_server, monkeypatch):
    monkeypatch.setattr(plivo.rest.client, "PLIVO_API_BASE_URI", f"{live_server.url}/v1/Account")
    clients: list[plivo.RestClient] = []
    original = plivo.RestClient.__init__

    def tracked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        clients.append(self)

    monkeypatch.setattr(plivo.RestClient, "__init__", tracked)
    yield
    for client in clients:  # keep-alive sockets would pin the live server's DB sessions
        client.session.close()
        client.multipart_session.close()


def signup(client: plivo.RestClient, body: dict[str, str]):
    return client.request("POST", ("WhatsApp", "EmbeddedSignup"), body)


@pytest.mark.usefixtures("sdk_base")
def test_the_plivo_sdk_gets_a_success_and_every_error_as_it_reports_them(transactional_db):
    account = make_account()
    client = plivo.RestClient(account.auth_id, account.auth_token)

    created = signup(client, {**VALID, "reference": "crm-7"})
    assert created.waba_id == VALID["waba_id"]
    assert created.onboarding_status == "pending"
    assert created.api_id
    assert WhatsAppBusinessAccount.objects.get().reference == "crm-7"

    with pytest.raises(
        exceptions.ValidationError, match="^This WABA is already registered with Relay.$"
    ):
        signup(client, VALID)
    with pytest.raises(exceptions.ValidationError, match="^waba_id is required.$"):
        signup(client, {"business_id": "1234567"})

    listed = client.request("GET", ("WhatsApp", "EmbeddedSignup"), {"limit": 5})
    assert listed.meta.total_count == 1
    assert listed.objects[0].waba_id == VALID["waba_id"]

    with pytest.raises(exceptions.ResourceNotFoundError, match="^WABA not found.$"):
        client.request("GET", ("WhatsApp", "EmbeddedSignup", "999999999"))

    wrong = plivo.RestClient(account.auth_id, "w" * 40)
    with pytest.raises(
        exceptions.AuthenticationError,
        match="^Authentication failed: check your Auth ID and Auth Token.$",
    ):
        signup(wrong, VALID)


@pytest.mark.usefixtures("sdk_base")
def test_the_plivo_sdk_reports_the_403s(transactional_db):
    account = make_account(tech_provider_permission=False)
    client = plivo.RestClient(account.auth_id, account.auth_token)
    with pytest.raises(exceptions.ForbiddenError, match="does not have Tech Provider permission"):
        signup(client, VALID)
