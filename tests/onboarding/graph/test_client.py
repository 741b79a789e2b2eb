"""GraphClient over faked HTTP (`responses`): URLs, auth, bodies, typed records, error classes."""

import json
import logging
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from onboarding.graph import (
    GraphAuthError,
    GraphClient,
    GraphError,
    GraphNetworkError,
    GraphPermissionError,
    GraphRateLimitError,
    GraphServerError,
    GraphTransientError,
    GraphUnexpectedResponseError,
    GraphWaitError,
)
from onboarding.graph.errors import mask_secrets

BASE = "https://graph.test"
V = "v26.0"
TOKEN = "EAAG-secret-business-token"
AUTH = matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})


def url(path: str) -> str:
    return f"{BASE}/{V}/{path}"


@pytest.fixture
def graph() -> GraphClient:
    return GraphClient(TOKEN, base_url=BASE, version=V, timeout=5)


@pytest.fixture
def http() -> Any:
    with responses.RequestsMock() as mocked:
        yield mocked


def envelope(code: int, *, subcode: int | None = None, message: str = "boom") -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# ---------------------------------------------------------------- construction


def test_it_takes_base_url_version_and_timeout_from_settings(settings: Any) -> None:
    settings.GRAPH_API_BASE_URL = "https://graph.example/"
    settings.GRAPH_API_VERSION = "v25.0"
    settings.GRAPH_API_TIMEOUT_S = 7.5
    client = GraphClient(TOKEN)
    assert (client.base_url, client.version, client.timeout) == (
        "https://graph.example",
        "v25.0",
        7.5,
    )


def test_it_refuses_a_zero_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        GraphClient(TOKEN, base_url=BASE, version=V, timeout=0)


def test_its_default_session_never_retries_by_itself(graph: GraphClient) -> None:
    adapter = graph._session.get_adapter("https://graph.test/")
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]


def test_every_call_carries_the_timeout() -> None:
    seen: dict[str, Any] = {}

    class Spy(requests.Session):
        def request(self, method: str, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
            seen.update(kwargs, method=method, url=url)
            raise requests.ConnectTimeout("no network in this test")

    client = GraphClient(TOKEN, base_url=BASE, version=V, timeout=3, session=Spy())
    with pytest.raises(GraphNetworkError):
        client.get_waba("111")
    assert seen["timeout"] == 3.0
    assert seen["allow_redirects"] is False
    assert seen["url"] == url("111")


def test_its_repr_hides_the_token(graph: GraphClient) -> None:
    assert TOKEN not in repr(graph)


# ---------------------------------------------------------------- tokens


def test_exchange_code_for_token(http: Any) -> None:
    http.get(
        url("oauth/access_token"),
        match=[
            matchers.query_param_matcher(
                {"client_id": "42", "client_secret": "app-secret", "code": "the-code"}
            )
        ],
        json={"access_token": "EAAB-new", "token_type": "bearer", "expires_in": 5183944},
    )
    token = GraphClient("", base_url=BASE, version=V).exchange_code_for_token(
        code="the-code", app_id="42", app_secret="app-secret"
    )
    assert token.access_token == "EAAB-new"
    assert token.expires_in == 5183944
    assert "EAAB-new" not in repr(token)
    assert "Authorization" not in http.calls[0].request.headers


def test_a_used_code_is_a_permanent_error(http: Any) -> None:
    http.get(
        url("oauth/access_token"),
        status=400,
        json=envelope(100, message="This authorization code has been used."),
    )
    with pytest.raises(GraphError) as caught:
        GraphClient("", base_url=BASE, version=V).exchange_code_for_token(
            code="x", app_id="1", app_secret="s"
        )
    assert type(caught.value) is GraphError
    assert not caught.value.retryable
    assert caught.value.code == 100


def test_debug_token(http: Any, graph: GraphClient) -> None:
    http.get(
        url("debug_token"),
        match=[matchers.query_param_matcher({"input_token": "EAAB-inspect"}), AUTH],
        json={
            "data": {
                "app_id": "42",
                "type": "SYSTEM_USER",
                "application": "BSP",
                "is_valid": True,
                "issued_at": 1794815999,
                "expires_at": 0,
                "scopes": ["whatsapp_business_management"],
                "granular_scopes": [
                    {"scope": "whatsapp_business_management", "target_ids": ["111", "222"]},
                    {"scope": "public_profile"},
                ],
                "user_id": "333",
            }
        },
    )
    info = graph.debug_token("EAAB-inspect")
    assert info.is_valid
    assert info.app_id == "42"
    assert info.type == "SYSTEM_USER"
    assert info.expires_at is None  # 0 means never
    assert info.issued_at is not None
    assert info.issued_at.year == 2026
    assert info.target_ids("whatsapp_business_management") == ("111", "222")
    assert info.target_ids("public_profile") == ()
    assert info.target_ids("whatsapp_business_messaging") == ()


# ---------------------------------------------------------------- webhooks


def test_subscribe_app_without_a_body(http: Any, graph: GraphClient) -> None:
    http.post(url("111/subscribed_apps"), match=[AUTH], json={"success": True})
    graph.subscribe_app("111")
    assert http.calls[0].request.body is None


def test_subscribe_app_with_an_override(http: Any, graph: GraphClient) -> None:
    http.post(
        url("111/subscribed_apps"),
        match=[
            AUTH,
            matchers.json_params_matcher(
                {"override_callback_uri": "https://p.example/w/111/", "verify_token": "vt"}
            ),
        ],
        json={"success": True},
    )
    graph.subscribe_app("111", override_callback_uri="https://p.example/w/111/", verify_token="vt")


@pytest.mark.parametrize(
    ("uri", "token", "message"),
    [
        ("https://p.example/", None, "go together"),
        (None, "vt", "go together"),
        ("https://p.example/" + "x" * 200, "vt", "200"),
    ],
)
def test_subscribe_app_refuses_a_bad_override_without_calling(
    http: Any, graph: GraphClient, uri: str | None, token: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        graph.subscribe_app("111", override_callback_uri=uri, verify_token=token)
    assert len(http.calls) == 0


def test_list_subscribed_apps(http: Any, graph: GraphClient) -> None:
    http.get(
        url("111/subscribed_apps"),
        match=[AUTH],
        json={
            "data": [
                {
                    "whatsapp_business_api_data": {"id": "42", "link": "https://l", "name": "BSP"},
                    "override_callback_uri": "https://p.example/w/111/",
                },
                {"whatsapp_business_api_data": {"id": "43", "name": "Other"}},
            ]
        },
    )
    apps = graph.list_subscribed_apps("111")
    assert [(a.app_id, a.override_callback_uri) for a in apps] == [
        ("42", "https://p.example/w/111/"),
        ("43", ""),
    ]


def test_unsubscribe_app(http: Any, graph: GraphClient) -> None:
    http.delete(url("111/subscribed_apps"), match=[AUTH], json={"success": True})
    graph.unsubscribe_app("111")


# ---------------------------------------------------------------- credit line


def test_share_credit_line(http: Any, graph: GraphClient) -> None:
    http.post(
        url("900/whatsapp_credit_sharing_and_attach"),
        match=[AUTH, matchers.query_param_matcher({"waba_currency": "EUR", "waba_id": "111"})],
        json={"allocation_config_id": "555", "waba_id": "111"},
    )
    shared = graph.share_credit_line("900", waba_id="111", currency="EUR")
    assert (shared.allocation_config_id, shared.waba_id) == ("555", "111")


def test_share_credit_line_validates_the_currency_before_calling(
    http: Any, graph: GraphClient
) -> None:
    with pytest.raises(ValueError, match="AUD, EUR, GBP, IDR, INR, USD"):
        graph.share_credit_line("900", waba_id="111", currency="JPY")
    assert len(http.calls) == 0


def test_get_credit_allocation(http: Any, graph: GraphClient) -> None:
    http.get(
        url("555"),
        match=[
            AUTH,
            matchers.query_param_matcher(
                {"fields": "id,receiving_credential,receiving_business,request_status"}
            ),
        ],
        json={
            "id": "555",
            "receiving_credential": {"id": "777"},
            "receiving_business": {"id": "888", "name": "Customer"},
            "request_status": "APPROVED",
        },
    )
    allocation = graph.get_credit_allocation("555")
    assert allocation.receiving_credential_id == "777"
    assert allocation.receiving_business_id == "888"
    assert allocation.request_status == "APPROVED"


def test_list_credit_allocations(http: Any, graph: GraphClient) -> None:
    http.get(
        url("900/owning_credit_allocation_configs"),
        match=[
            matchers.query_param_matcher(
                {
                    "receiving_business_id": "888",
                    "fields": "id,receiving_credential,receiving_business,request_status",
                }
            )
        ],
        json={"data": [{"id": "555", "receiving_business": {"id": "888"}}]},
    )
    (allocation,) = graph.list_credit_allocations("900", receiving_business_id="888")
    assert allocation.id == "555"


def test_revoke_credit_allocation(http: Any, graph: GraphClient) -> None:
    http.delete(url("555"), match=[AUTH], json={"success": True})
    graph.revoke_credit_allocation("555")


# ---------------------------------------------------------------- WABA and numbers


def test_get_waba(http: Any, graph: GraphClient) -> None:
    http.get(
        url("111"),
        match=[
            matchers.query_param_matcher({"fields": "id,primary_funding_id,owner_business_info"})
        ],
        json={"id": "111", "primary_funding_id": "777", "owner_business_info": {"id": "888"}},
    )
    waba = graph.get_waba("111", fields=["primary_funding_id", "owner_business_info"])
    assert (waba.id, waba.primary_funding_id, waba.owner_business_id) == ("111", "777", "888")


def test_register_phone_number(http: Any, graph: GraphClient) -> None:
    http.post(
        url("222/register"),
        match=[
            AUTH,
            matchers.json_params_matcher({"messaging_product": "whatsapp", "pin": "123456"}),
        ],
        json={"success": True},
    )
    graph.register_phone_number("222", pin="123456")


def test_register_phone_number_with_local_storage(http: Any, graph: GraphClient) -> None:
    http.post(
        url("222/register"),
        match=[
            matchers.json_params_matcher(
                {"messaging_product": "whatsapp", "pin": "123456", "data_localization_region": "DE"}
            )
        ],
        json={"success": True},
    )
    graph.register_phone_number("222", pin="123456", data_localization_region="DE")


@pytest.mark.parametrize("pin", ["12345", "1234567", "12a456", ""])
def test_register_phone_number_refuses_a_bad_pin(http: Any, graph: GraphClient, pin: str) -> None:
    with pytest.raises(ValueError, match="6 digits"):
        graph.register_phone_number("222", pin=pin)
    assert len(http.calls) == 0


def test_deregister_phone_number(http: Any, graph: GraphClient) -> None:
    http.post(url("222/deregister"), match=[AUTH], json={"success": True})
    graph.deregister_phone_number("222")


def test_get_phone_number(http: Any, graph: GraphClient) -> None:
    http.get(
        url("222"),
        match=[AUTH],
        json={
            "id": "222",
            "display_phone_number": "+1 555-0100",
            "verified_name": "Acme",
            "quality_rating": "GREEN",
            "status": "CONNECTED",
            "code_verification_status": "VERIFIED",
            "name_status": "APPROVED",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_1K",
        },
    )
    number = graph.get_phone_number("222")
    assert number.display_phone_number == "+1 555-0100"
    assert (number.quality_rating, number.status, number.throughput_level) == (
        "GREEN",
        "CONNECTED",
        "STANDARD",
    )
    assert number.messaging_limit_tier == "TIER_1K"
    assert number.is_on_biz_app is None
    fields = http.calls[0].request.params["fields"].split(",")
    assert fields[0] == "id"
    assert "throughput" in fields
    assert "verified_name" in fields


# ---------------------------------------------------------------- messages and templates


def test_send_message(http: Any, graph: GraphClient) -> None:
    http.post(
        url("222/messages"),
        match=[
            AUTH,
            matchers.json_params_matcher(
                {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": "+15550101",
                    "type": "text",
                    "text": {"body": "hi"},
                    "context": {"message_id": "wamid.PREV"},
                }
            ),
        ],
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+15550101", "wa_id": "15550101"}],
            "messages": [{"id": "wamid.NEW", "message_status": "accepted"}],
        },
    )
    sent = graph.send_message(
        "222", to="+15550101", type="text", content={"body": "hi"}, reply_to="wamid.PREV"
    )
    assert (sent.message_id, sent.wa_id, sent.message_status) == (
        "wamid.NEW",
        "15550101",
        "accepted",
    )


def test_send_message_outside_the_window_is_permanent(http: Any, graph: GraphClient) -> None:
    http.post(url("222/messages"), status=400, json=envelope(131047))
    with pytest.raises(GraphError) as caught:
        graph.send_message("222", to="1", type="text", content={"body": "x"})
    assert caught.value.code == 131047
    assert not caught.value.retryable


def test_list_message_templates(http: Any, graph: GraphClient) -> None:
    http.get(
        url("111/message_templates"),
        match=[matchers.query_param_matcher({"limit": "2", "after": "CUR1", "status": "APPROVED"})],
        json={
            "data": [
                {
                    "id": "t1",
                    "name": "order_update",
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "UTILITY",
                    "components": [
                        {"type": "BODY", "text": "Hi {{1}}"},
                        {
                            "type": "BUTTONS",
                            "buttons": [{"type": "URL", "text": "Go", "url": "https://x"}],
                        },
                    ],
                }
            ],
            "paging": {"cursors": {"before": "B", "after": "CUR2"}, "next": "https://next"},
        },
    )
    page = graph.list_message_templates("111", limit=2, after="CUR1", status="APPROVED")
    (template,) = page.templates
    assert (template.name, template.status, page.after) == ("order_update", "APPROVED", "CUR2")
    assert template.components[0].text == "Hi {{1}}"
    assert template.components[1].buttons[0].url == "https://x"


def test_the_last_template_page_has_no_cursor(http: Any, graph: GraphClient) -> None:
    http.get(
        url("111/message_templates"),
        json={"data": [], "paging": {"cursors": {"before": "B", "after": "A"}}},
    )
    assert graph.list_message_templates("111").after == ""


def test_create_message_template(http: Any, graph: GraphClient) -> None:
    components = [{"type": "BODY", "text": "Hello"}]
    http.post(
        url("111/message_templates"),
        match=[
            matchers.json_params_matcher(
                {"name": "hello", "language": "en", "category": "UTILITY", "components": components}
            )
        ],
        json={"id": "t9", "status": "PENDING", "category": "UTILITY"},
    )
    created = graph.create_message_template(
        "111", name="hello", language="en", category="UTILITY", components=components
    )
    assert (created.id, created.status) == ("t9", "PENDING")


def test_delete_message_template(http: Any, graph: GraphClient) -> None:
    http.delete(
        url("111/message_templates"),
        match=[matchers.query_param_matcher({"name": "hello", "hsm_id": "t9"})],
        json={"success": True},
    )
    graph.delete_message_template("111", name="hello", template_id="t9")


# ---------------------------------------------------------------- media


def test_get_media_url(http: Any, graph: GraphClient) -> None:
    http.get(
        url("m1"),
        match=[AUTH],
        json={
            "id": "m1",
            "url": "https://lookaside.test/m1?sig=abc",
            "mime_type": "image/jpeg",
            "sha256": "f00",
            "file_size": 3,
        },
    )
    media = graph.get_media_url("m1")
    assert (media.url, media.mime_type, media.file_size) == (
        "https://lookaside.test/m1?sig=abc",
        "image/jpeg",
        3,
    )


def test_download_media(http: Any, graph: GraphClient) -> None:
    http.get("https://lookaside.test/m1", match=[AUTH], body=b"\xff\xd8\xff")
    assert graph.download_media("https://lookaside.test/m1") == b"\xff\xd8\xff"


def test_download_media_stops_past_the_size_cap(http: Any, graph: GraphClient) -> None:
    http.get("https://lookaside.test/big", body=b"x" * 2048)
    with pytest.raises(GraphError, match="larger than 1024"):
        graph.download_media("https://lookaside.test/big", max_bytes=1024)


def test_download_media_refuses_other_schemes(graph: GraphClient) -> None:
    with pytest.raises(ValueError, match="http"):
        graph.download_media("file:///etc/passwd")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable", "wait_long"),
    [
        (1, 500, GraphTransientError, True, False),
        (2, 503, GraphTransientError, True, False),
        (4, 400, GraphRateLimitError, True, False),
        (17, 400, GraphRateLimitError, True, False),
        (341, 400, GraphRateLimitError, True, False),
        (613, 400, GraphRateLimitError, True, False),
        (80007, 400, GraphRateLimitError, True, False),
        (80008, 400, GraphRateLimitError, True, False),
        (130429, 400, GraphRateLimitError, True, False),
        (131000, 500, GraphTransientError, True, False),
        (131016, 503, GraphTransientError, True, False),
        (131057, 503, GraphTransientError, True, False),
        (133004, 503, GraphTransientError, True, False),
        (133016, 400, GraphWaitError, False, True),
        (133008, 400, GraphWaitError, False, True),
        (133009, 400, GraphWaitError, False, True),
        (368, 400, GraphWaitError, False, True),
        (100, 400, GraphError, False, False),
        (190, 401, GraphAuthError, False, False),
        (102, 401, GraphAuthError, False, False),
        (3, 403, GraphPermissionError, False, False),
        (10, 403, GraphPermissionError, False, False),
        (200, 403, GraphPermissionError, False, False),
        (299, 403, GraphPermissionError, False, False),
        (133005, 400, GraphError, False, False),
        (133006, 400, GraphError, False, False),
        (133000, 500, GraphError, False, False),  # permanent although HTTP 500
    ],
)
def test_errors_are_classified_by_code_not_status(
    http: Any,
    graph: GraphClient,
    code: int,
    status: int,
    cls: type[GraphError],
    retryable: bool,
    wait_long: bool,
) -> None:
    http.post(url("222/register"), status=status, json=envelope(code, subcode=2494010))
    with pytest.raises(GraphError) as caught:
        graph.register_phone_number("222", pin="123456")
    error = caught.value
    assert type(error) is cls
    assert (error.retryable, error.wait_long) == (retryable, wait_long)
    assert (error.status, error.code, error.subcode) == (status, code, 2494010)
    assert error.fbtrace_id == "AbCdEf123"
    assert error.message == "boom"
    assert not error.outcome_unknown


def test_a_wait_long_error_says_how_long(http: Any, graph: GraphClient) -> None:
    http.post(url("222/register"), status=400, json=envelope(133016))
    with pytest.raises(GraphWaitError) as caught:
        graph.register_phone_number("222", pin="123456")
    assert caught.value.wait_seconds == 72 * 3600


def test_the_envelope_details_are_kept(http: Any, graph: GraphClient) -> None:
    body = envelope(131047)
    body["error"].update(
        error_user_title="Re-engagement", error_user_msg="24h passed", error_data={"details": "d"}
    )
    http.post(url("222/messages"), status=400, json=body)
    with pytest.raises(GraphError) as caught:
        graph.send_message("222", to="1", type="text", content={"body": "x"})
    error = caught.value
    assert (error.user_title, error.user_message, error.details) == (
        "Re-engagement",
        "24h passed",
        "d",
    )
    assert error.error_type == "OAuthException"


@pytest.mark.parametrize(
    ("status", "cls", "retryable", "unknown"),
    [
        (502, GraphServerError, True, True),
        (503, GraphServerError, True, True),
        (429, GraphRateLimitError, True, False),
        (400, GraphError, False, False),
        (404, GraphError, False, False),
    ],
)
def test_errors_without_an_envelope_follow_the_status(
    http: Any,
    graph: GraphClient,
    status: int,
    cls: type[GraphError],
    retryable: bool,
    unknown: bool,
) -> None:
    http.get(url("111"), status=status, body="<html>Bad gateway</html>")
    with pytest.raises(GraphError) as caught:
        graph.get_waba("111")
    assert type(caught.value) is cls
    assert (caught.value.retryable, caught.value.outcome_unknown) == (retryable, unknown)
    assert caught.value.code is None


@pytest.mark.parametrize(
    "exc",
    [requests.ConnectionError("reset"), requests.ReadTimeout("slow"), requests.ConnectTimeout()],
)
def test_network_errors_are_retryable_with_an_unknown_outcome(
    http: Any, graph: GraphClient, exc: Exception
) -> None:
    http.post(url("900/whatsapp_credit_sharing_and_attach"), body=exc)
    with pytest.raises(GraphNetworkError) as caught:
        graph.share_credit_line("900", waba_id="111", currency="USD")
    assert caught.value.retryable
    assert caught.value.outcome_unknown
    assert caught.value.__cause__ is None
    assert "POST /v26.0/900/whatsapp_credit_sharing_and_attach" in caught.value.message


def test_a_network_error_never_repeats_a_secret_from_the_url(http: Any) -> None:
    leaky = requests.ConnectionError(
        "Max retries exceeded with url: /v26.0/oauth/access_token"
        "?client_id=1&client_secret=TOPSECRET&code=CODE123"
    )
    http.get(url("oauth/access_token"), body=leaky)
    with pytest.raises(GraphNetworkError) as caught:
        GraphClient("", base_url=BASE, version=V).exchange_code_for_token(
            code="CODE123", app_id="1", app_secret="TOPSECRET"
        )
    text = str(caught.value)
    assert "TOPSECRET" not in text
    assert "CODE123" not in text
    assert "client_secret=***" in text


def test_mask_secrets_masks_every_secret_parameter() -> None:
    text = "a?access_token=T1&input_token=T2&client_secret=S&code=C&fields=id"
    assert mask_secrets(text) == (
        "a?access_token=***&input_token=***&client_secret=***&code=***&fields=id"
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("not json", "text/plain"), ("[1, 2]", "application/json")],
)
def test_an_unreadable_success_is_an_unexpected_response(
    http: Any, graph: GraphClient, body: str, content_type: str
) -> None:
    http.get(url("111"), body=body, content_type=content_type)
    with pytest.raises(GraphUnexpectedResponseError) as caught:
        graph.get_waba("111")
    assert caught.value.retryable
    assert caught.value.outcome_unknown


def test_a_missing_required_field_is_an_unexpected_response(http: Any, graph: GraphClient) -> None:
    http.post(url("900/whatsapp_credit_sharing_and_attach"), json={"waba_id": "111"})
    with pytest.raises(GraphUnexpectedResponseError, match="allocation_config_id"):
        graph.share_credit_line("900", waba_id="111", currency="USD")


def test_success_false_is_not_taken_for_success(http: Any, graph: GraphClient) -> None:
    http.post(url("111/subscribed_apps"), json={"success": False})
    with pytest.raises(GraphUnexpectedResponseError, match="success"):
        graph.subscribe_app("111")


def test_a_redirect_is_not_followed(http: Any, graph: GraphClient) -> None:
    http.get(url("111"), status=302, headers={"Location": "https://evil.test/"})
    with pytest.raises(GraphError):
        graph.get_waba("111")
    assert len(http.calls) == 1


# ---------------------------------------------------------------- logging


def test_it_logs_one_line_per_call_without_the_token(
    http: Any, graph: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    http.get(url("111"), json={"id": "111"}, headers={"x-fb-trace-id": "TRACE1"})
    http.post(url("222/register"), status=400, json=envelope(133005))
    caplog.set_level(logging.INFO, logger="onboarding.graph")
    graph.get_waba("111")
    with pytest.raises(GraphError):
        graph.register_phone_number("222", pin="654321")
    ok, failed = [r for r in caplog.records if r.name == "onboarding.graph"]
    assert ok.getMessage().startswith("graph GET /v26.0/111 status=200 code=- fbtrace_id=TRACE1")
    assert "duration_ms=" in ok.getMessage()
    assert failed.levelno == logging.WARNING
    assert "status=400 code=133005 fbtrace_id=AbCdEf123" in failed.getMessage()
    assert ok.graph_path == "/v26.0/111"  # type: ignore[attr-defined]
    assert failed.graph_code == 133005  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text
    assert "654321" not in caplog.text


def test_it_never_logs_secrets_from_the_query_string(
    http: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http.get(url("oauth/access_token"), json={"access_token": "EAAB-new"})
    http.get(url("debug_token"), json={"data": {"is_valid": True}})
    caplog.set_level(logging.DEBUG)
    client = GraphClient("APP|SECRET-APP-TOKEN", base_url=BASE, version=V)
    client.exchange_code_for_token(code="CODE-XYZ", app_id="1", app_secret="APP-SECRET")
    client.debug_token("EAAB-new")
    graph_lines = [r.getMessage() for r in caplog.records if r.name == "onboarding.graph"]
    assert graph_lines[0].startswith("graph GET /v26.0/oauth/access_token status=200")
    for secret in ("CODE-XYZ", "APP-SECRET", "EAAB-new", "SECRET-APP-TOKEN"):
        assert secret not in "\n".join(graph_lines)


def test_the_token_goes_only_in_the_authorization_header(http: Any, graph: GraphClient) -> None:
    http.get(url("111/subscribed_apps"), json={"data": []})
    graph.list_subscribed_apps("111")
    request = http.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.url
    assert json.dumps(dict(request.headers)).count(TOKEN) == 1
