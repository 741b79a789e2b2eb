"""The platform's GraphClient talking to the simulator over real HTTP via GRAPH_API_BASE_URL."""

from typing import Any

import pytest
from django.conf import settings

from onboarding.graph.client import GraphClient
from onboarding.graph.errors import GraphAuthError, GraphError
from sandbox.models import SandboxPhoneNumber, SandboxTemplate
from sandbox.selectors import sandbox_calls
from sandbox.services import events
from sandbox.testing import flush_webhooks, inject_fault, simulate_signup
from tests.sandbox.conftest import CallbackServer, wait_for_call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def graph_base(live_server: Any, settings: Any) -> str:
    settings.GRAPH_API_BASE_URL = f"{live_server.url}/sandbox/graph"
    return str(settings.GRAPH_API_BASE_URL)


def _onboard() -> tuple[dict[str, Any], GraphClient]:
    signup = simulate_signup(business_name="Acme Shoes")
    token = GraphClient("").exchange_code_for_token(
        code=signup["code"], app_id=settings.META_APP_ID, app_secret=settings.META_APP_SECRET[0]
    )
    signup["token"] = token.access_token
    return signup, GraphClient(token.access_token)


def test_the_client_runs_a_whole_onboarding_against_the_simulator(
    graph_base: str, callback: CallbackServer
):
    signup, client = _onboard()
    assert client.base_url == graph_base
    app_token = f"{settings.META_APP_ID}|{settings.META_APP_SECRET[0]}"
    info = GraphClient(app_token).debug_token(signup["token"])
    assert info.is_valid
    assert info.app_id == settings.META_APP_ID
    assert info.target_ids("whatsapp_business_management") == (signup["waba_id"],)

    waba_id, phone_id = signup["waba_id"], signup["phone_number_id"]
    client.subscribe_app(waba_id)
    override = f"{callback.url}/webhooks/meta/waba/{waba_id}/"
    client.subscribe_app(
        waba_id, override_callback_uri=override, verify_token=callback.verify_token
    )
    (app,) = client.list_subscribed_apps(waba_id)
    assert (app.app_id, app.override_callback_uri) == (settings.META_APP_ID, override)

    system = GraphClient(settings.META_SYSTEM_USER_TOKEN)
    shared = system.share_credit_line(settings.META_CREDIT_LINE_ID, waba_id=waba_id, currency="USD")
    allocation = system.get_credit_allocation(shared.allocation_config_id)
    waba = client.get_waba(waba_id)
    assert allocation.receiving_credential_id == waba.primary_funding_id
    assert waba.owner_business_id == signup["business_id"]
    found = system.list_credit_allocations(
        settings.META_CREDIT_LINE_ID, receiving_business_id=signup["business_id"]
    )
    assert [a.id for a in found] == [shared.allocation_config_id]

    client.register_phone_number(phone_id, pin="246810")
    number = client.get_phone_number(phone_id)
    assert (number.status, number.verified_name, number.quality_rating) == (
        "CONNECTED",
        "Acme Shoes",
        "GREEN",
    )
    assert number.throughput_level == "STANDARD"
    assert number.messaging_limit_tier == "TIER_250"
    assert sandbox_calls(endpoint="oauth.access_token").count() == 1


def test_the_client_sends_templates_and_reads_inbound_media(graph_base: str):
    signup, client = _onboard()
    phone_id, waba_id = signup["phone_number_id"], signup["waba_id"]
    client.register_phone_number(phone_id, pin="246810")
    created = client.create_message_template(
        waba_id,
        name="order_update",
        language="en_US",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Order {{1}} shipped."}],
    )
    assert created.status == "PENDING"
    SandboxTemplate.objects.filter(template_id=created.id).update(status="APPROVED")
    page = client.list_message_templates(waba_id)
    assert [(t.name, t.status) for t in page.templates] == [("order_update", "APPROVED")]
    sent = client.send_message(
        phone_id,
        to="919800000001",
        type="template",
        content={
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "A1"}]}],
        },
    )
    assert sent.message_id.startswith("wamid.")
    assert sent.wa_id == "919800000001"

    phone = SandboxPhoneNumber.objects.select_related("waba").get(phone_number_id=phone_id)
    message, _ = events.inbound_inject(
        phone=phone,
        from_wa_id="919800000001",
        kind="document",
        media_content=b"%PDF-1.4 demo",
        mime_type="application/pdf",
    )
    media = client.get_media_url(message.payload["document"]["id"])
    assert media.mime_type == "application/pdf"
    assert client.download_media(media.url) == b"%PDF-1.4 demo"
    flush_webhooks()


def test_metas_errors_reach_the_client_classified(graph_base: str):
    signup, client = _onboard()
    with pytest.raises(GraphError) as reused:
        GraphClient("").exchange_code_for_token(
            code=signup["code"],
            app_id=settings.META_APP_ID,
            app_secret=settings.META_APP_SECRET[0],
        )
    assert reused.value.code == 100
    assert reused.value.message == "This authorization code has been used."
    assert reused.value.fbtrace_id

    inject_fault("phone_number.register", error_code=2)
    with pytest.raises(GraphError) as outage:
        client.register_phone_number(signup["phone_number_id"], pin="123456")
    assert (outage.value.code, outage.value.status, outage.value.retryable) == (2, 503, True)

    client.register_phone_number(signup["phone_number_id"], pin="123456")
    with pytest.raises(GraphError) as mismatch:
        client.register_phone_number(signup["phone_number_id"], pin="654321")
    assert (mismatch.value.code, mismatch.value.retryable) == (133005, False)

    inject_fault("waba.get", error_code=80007)
    with pytest.raises(GraphError) as throttled:
        client.get_waba(signup["waba_id"])
    assert (throttled.value.status, throttled.value.retryable) == (400, True)

    with pytest.raises(GraphAuthError):
        GraphClient("EAAnot-a-token").get_waba(signup["waba_id"])


def test_timeouts_and_dropped_connections_are_network_errors_of_unknown_outcome(graph_base: str):
    signup, client = _onboard()
    short = GraphClient(signup["token"], timeout=0.3)
    inject_fault("phone_number.register", kind="timeout", latency_ms=900, with_effect=True)
    with pytest.raises(GraphError) as timed_out:
        short.register_phone_number(signup["phone_number_id"], pin="123456")
    assert timed_out.value.outcome_unknown
    wait_for_call("phone_number.register")  # the server finished holding the request
    assert client.get_phone_number(signup["phone_number_id"]).status == "CONNECTED"
    inject_fault("waba.get", kind="drop")
    with pytest.raises(GraphError) as dropped:
        client.get_waba(signup["waba_id"])
    assert dropped.value.retryable
    assert dropped.value.outcome_unknown
