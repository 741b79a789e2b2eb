"""GraphClient: one method per Graph API endpoint we call, over one `_request` round trip.

Every call has a timeout and no adapter-level retries (retrying is the caller's decision, by the
error's class), is logged once with its fbtrace_id, and returns typed records. The access token
travels only in the Authorization header; secrets that Meta wants in a query string are masked
in every log line and error message. No Django models here: settings give only the defaults.
"""

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from onboarding.graph.errors import GraphError, GraphUnexpectedResponseError
from onboarding.graph.types import (
    AccessToken,
    CreatedTemplate,
    CreditAllocation,
    CreditSharing,
    MediaInfo,
    MessageTemplate,
    PhoneNumberInfo,
    SentMessage,
    SubscribedApp,
    TemplatePage,
    TokenInfo,
    WabaInfo,
)

logger = logging.getLogger("onboarding.graph")

CREDIT_LINE_CURRENCIES = frozenset({"AUD", "EUR", "GBP", "IDR", "INR", "USD"})
OVERRIDE_CALLBACK_URI_MAX = 200
WABA_FIELDS = ("id", "name", "currency", "primary_funding_id", "owner_business_info")
PHONE_NUMBER_FIELDS = (
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "status",
    "code_verification_status",
    "name_status",
    "platform_type",
    "throughput",
    "whatsapp_business_manager_messaging_limit",
    "is_on_biz_app",
)
ALLOCATION_FIELDS = "id,receiving_credential,receiving_business,request_status"
MEDIA_MAX_BYTES = 100 * 1024 * 1024  # Meta's largest media type (documents) is 100 MB
_PIN = re.compile(r"^[0-9]{6}$")
_USER_AGENT = "wa-tech-provider-platform/graph-client"

Json = dict[str, Any]


def new_session() -> requests.Session:
    """A session that never retries by itself: Celery retries, by the error's class."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=Retry(total=0, read=False, redirect=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = _USER_AGENT
    return session


class GraphClient:
    """A client for Meta's Graph API acting with one access token.

    `access_token` may be empty for calls authenticated by their parameters (the code exchange).
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._access_token = access_token
        self.base_url = (base_url or settings.GRAPH_API_BASE_URL).rstrip("/")
        self.version = version or settings.GRAPH_API_VERSION
        self.timeout = float(timeout if timeout is not None else settings.GRAPH_API_TIMEOUT_S)
        if self.timeout <= 0:
            raise ValueError("GraphClient needs a positive timeout")
        self._session = session or new_session()

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, version={self.version!r})"

    def with_session(self, session: requests.Session) -> "GraphClient":
        """The same client (token, base URL, version, timeout) over another HTTP session, e.g.
        one pool shared by a sender's threads."""
        return GraphClient(
            self._access_token,
            base_url=self.base_url,
            version=self.version,
            timeout=self.timeout,
            session=session,
        )

    # ------------------------------------------------------------------ tokens

    def exchange_code_for_token(
        self, *, code: str, app_id: str, app_secret: str, redirect_uri: str | None = None
    ) -> AccessToken:
        """Exchange an Embedded Signup code (single use, ~30 s) for the customer's business token.

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-customers-as-a-tech-provider
        """
        params = {"client_id": app_id, "client_secret": app_secret, "code": code}
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        return AccessToken.from_graph(self._request("GET", "oauth/access_token", params=params))

    def debug_token(self, input_token: str) -> TokenInfo:
        """Inspect a token: validity, app, expiry and the WABA ids it was granted on.

        Reference: https://developers.facebook.com/docs/graph-api/reference/debug_token
        """
        body = self._request("GET", "debug_token", params={"input_token": input_token})
        return TokenInfo.from_graph(body)

    # ------------------------------------------------------------------ webhooks

    def subscribe_app(
        self,
        waba_id: str,
        *,
        override_callback_uri: str | None = None,
        verify_token: str | None = None,
    ) -> None:
        """Subscribe our app to a WABA's webhooks, or (with both arguments) set its override URL.

        Meta requires the app to be subscribed before an override is set, and verifies the
        override URL with a GET handshake using `verify_token`.
        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override
        """
        body: Json | None = None
        if override_callback_uri is not None or verify_token is not None:
            if not override_callback_uri or not verify_token:
                raise ValueError("override_callback_uri and verify_token go together")
            if len(override_callback_uri) > OVERRIDE_CALLBACK_URI_MAX:
                raise ValueError(
                    f"override_callback_uri is longer than {OVERRIDE_CALLBACK_URI_MAX} characters"
                )
            body = {"override_callback_uri": override_callback_uri, "verify_token": verify_token}
        _expect_success(self._request("POST", f"{waba_id}/subscribed_apps", json=body))

    def list_subscribed_apps(self, waba_id: str) -> tuple[SubscribedApp, ...]:
        """The apps subscribed to a WABA's webhooks, each with the WABA's override URL.

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-webhooks
        """
        body = self._request("GET", f"{waba_id}/subscribed_apps")
        return tuple(SubscribedApp.from_graph(app) for app in _data(body))

    def unsubscribe_app(self, waba_id: str) -> None:
        """Unsubscribe our app from a WABA's webhooks.

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-webhooks
        """
        _expect_success(self._request("DELETE", f"{waba_id}/subscribed_apps"))

    # ------------------------------------------------------------------ credit line

    def share_credit_line(
        self, credit_line_id: str, *, waba_id: str, currency: str
    ) -> CreditSharing:
        """Share our credit line with a WABA and attach it (system user token only).

        A credit line cannot be changed once attached, so look for an existing allocation
        (`list_credit_allocations`) before sharing again after a lost answer.
        Reference: https://developers.facebook.com/docs/marketing-api/reference/extended-credit/whatsapp_credit_sharing_and_attach
        """
        if currency not in CREDIT_LINE_CURRENCIES:
            raise ValueError(
                f"currency {currency!r} is not one of {', '.join(sorted(CREDIT_LINE_CURRENCIES))}"
            )
        body = self._request(
            "POST",
            f"{credit_line_id}/whatsapp_credit_sharing_and_attach",
            params={"waba_currency": currency, "waba_id": waba_id},
        )
        return CreditSharing.from_graph(body)

    def get_credit_allocation(self, allocation_config_id: str) -> CreditAllocation:
        """Read a credit allocation config (its receiving credential is the WABA's funding id).

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/share-and-revoke-credit-lines
        """
        body = self._request("GET", allocation_config_id, params={"fields": ALLOCATION_FIELDS})
        return CreditAllocation.from_graph(body)

    def list_credit_allocations(
        self, credit_line_id: str, *, receiving_business_id: str
    ) -> tuple[CreditAllocation, ...]:
        """The allocation configs of our credit line for one customer business.

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/share-and-revoke-credit-lines
        """
        body = self._request(
            "GET",
            f"{credit_line_id}/owning_credit_allocation_configs",
            params={"receiving_business_id": receiving_business_id, "fields": ALLOCATION_FIELDS},
        )
        return tuple(CreditAllocation.from_graph(item) for item in _data(body))

    def revoke_credit_allocation(self, allocation_config_id: str) -> None:
        """Revoke a credit allocation (applies to all the customer business's WABAs).

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/share-and-revoke-credit-lines
        """
        _expect_success(self._request("DELETE", allocation_config_id))

    # ------------------------------------------------------------------ WABA and numbers

    def get_waba(self, waba_id: str, *, fields: Sequence[str] = WABA_FIELDS) -> WabaInfo:
        """Read a WABA's fields (e.g. primary_funding_id, owner_business_info).

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account
        """
        wanted = ",".join(dict.fromkeys(["id", *fields]))
        return WabaInfo.from_graph(self._request("GET", waba_id, params={"fields": wanted}))

    def register_phone_number(
        self, phone_number_id: str, *, pin: str, data_localization_region: str | None = None
    ) -> None:
        """Register a number on the Cloud API; `pin` becomes (or must equal) its two-step PIN.

        Meta allows 10 register or deregister calls per number per 72 hours (then 133016).
        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration
        """
        if not _PIN.match(pin):
            raise ValueError("pin must be 6 digits")
        body: Json = {"messaging_product": "whatsapp", "pin": pin}
        if data_localization_region:
            body["data_localization_region"] = data_localization_region
        _expect_success(self._request("POST", f"{phone_number_id}/register", json=body))

    def deregister_phone_number(self, phone_number_id: str) -> None:
        """Deregister a number from the Cloud API (not for coexistence numbers).

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration
        """
        _expect_success(self._request("POST", f"{phone_number_id}/deregister"))

    def get_phone_number(
        self, phone_number_id: str, *, fields: Sequence[str] = PHONE_NUMBER_FIELDS
    ) -> PhoneNumberInfo:
        """Read a number's details: display number, verified name, quality, status, limits.

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status
        """
        wanted = ",".join(dict.fromkeys(["id", *fields]))
        body = self._request("GET", phone_number_id, params={"fields": wanted})
        return PhoneNumberInfo.from_graph(body)

    # ------------------------------------------------------------------ messages and templates

    def send_message(
        self,
        phone_number_id: str,
        *,
        to: str,
        type: str,
        content: Mapping[str, Any],
        reply_to: str | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SentMessage:
        """Send one message of `type` (text, template, interactive, image, ...) to `to`.

        `content` is the object Meta expects under the type's key, e.g. {"body": "hi"} for text.
        `biz_opaque_callback_data` (at most 512 characters) comes back on every status webhook.
        Reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
        """
        body: Json = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": type,
            type: dict(content),
        }
        if reply_to:
            body["context"] = {"message_id": reply_to}
        if biz_opaque_callback_data:
            if len(biz_opaque_callback_data) > 512:
                raise ValueError("biz_opaque_callback_data is longer than 512 characters")
            body["biz_opaque_callback_data"] = biz_opaque_callback_data
        return SentMessage.from_graph(
            self._request("POST", f"{phone_number_id}/messages", json=body)
        )

    def list_message_templates(
        self,
        waba_id: str,
        *,
        limit: int = 100,
        after: str | None = None,
        name: str | None = None,
        status: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> TemplatePage:
        """One page of a WABA's message templates; pass `after` from the previous page.

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates
        """
        params: dict[str, str | int] = {"limit": limit}
        wanted = ",".join(fields) if fields else None
        for key, value in (
            ("after", after),
            ("name", name),
            ("status", status),
            ("fields", wanted),
        ):
            if value:
                params[key] = value
        body = self._request("GET", f"{waba_id}/message_templates", params=params)
        return TemplatePage.from_graph(body)

    def create_message_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Mapping[str, Any]],
        parameter_format: str | None = None,
    ) -> CreatedTemplate:
        """Submit a template for review; it starts PENDING and a webhook reports the verdict.

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates
        """
        body: Json = {
            "name": name,
            "language": language,
            "category": category,
            "components": [dict(c) for c in components],
        }
        if parameter_format:
            body["parameter_format"] = parameter_format
        return CreatedTemplate.from_graph(
            self._request("POST", f"{waba_id}/message_templates", json=body)
        )

    def get_message_template(self, template_id: str) -> MessageTemplate:
        """Read one template by Meta's id: status, category, components.

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-hsm
        """
        return MessageTemplate.from_graph(self._request("GET", template_id))

    def update_message_template(
        self,
        template_id: str,
        *,
        components: Sequence[Mapping[str, Any]] | None = None,
        category: str | None = None,
    ) -> None:
        """Edit a template's components and/or category; Meta reviews it again (PENDING).

        Reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/template-management
        """
        body: Json = {}
        if components is not None:
            body["components"] = [dict(c) for c in components]
        if category:
            body["category"] = category
        if not body:
            raise ValueError("give components or category")
        _expect_success(self._request("POST", template_id, json=body))

    def delete_message_template(
        self, waba_id: str, *, name: str, template_id: str | None = None
    ) -> None:
        """Delete a template by name (all languages), or one of them with `template_id`.

        Reference: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates
        """
        params = {"name": name}
        if template_id:
            params["hsm_id"] = template_id
        _expect_success(self._request("DELETE", f"{waba_id}/message_templates", params=params))

    # ------------------------------------------------------------------ media

    def get_media_url(self, media_id: str) -> MediaInfo:
        """The short-lived download URL of an inbound media object, with its type and hash.

        Reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
        """
        return MediaInfo.from_graph(self._request("GET", media_id))

    def download_media(self, url: str, *, max_bytes: int = MEDIA_MAX_BYTES) -> bytes:
        """Download a media object from the URL `get_media_url` gave (needs our token).

        Reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("media URL must be http(s)")
        response = self._send("GET", url, log_path=_loggable(url), stream=True)
        try:
            return _read_capped(response, max_bytes)
        finally:
            response.close()

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Json | None = None,
    ) -> Json:
        """One round trip: URL, auth, timeout, logging, error translation; returns the body."""
        url = f"{self.base_url}/{self.version}/{path.lstrip('/')}"
        response = self._send(method, url, log_path=_loggable(url), params=params, json=json)
        try:
            body = response.json()
        except ValueError:
            raise GraphUnexpectedResponseError(f"{method} {path}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise GraphUnexpectedResponseError(f"{method} {path}: the answer is not an object")
        return body

    def _send(self, method: str, url: str, *, log_path: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json"}
        if self._access_token:
            headers["Authorization"] = f"Bearer {self._access_token}"
        started = time.monotonic()
        try:
            response = self._session.request(
                method, url, headers=headers, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            error = GraphError.from_exception(exc, method=method, path=log_path)
            _log(method, log_path, None, error, "", started)
            raise error from None  # the original names the full URL, query string included
        if 200 <= response.status_code < 300:
            _log(method, log_path, response.status_code, None, _trace_id(response), started)
            return response
        error = GraphError.from_response(response)
        _log(method, log_path, response.status_code, error, error.fbtrace_id, started)
        raise error


def _log(
    method: str, path: str, status: int | None, error: GraphError | None, trace: str, started: float
) -> None:
    duration_ms = round((time.monotonic() - started) * 1000)
    code = error.code if error is not None else None
    level = logging.INFO if error is None else logging.WARNING
    logger.log(
        level,
        "graph %s %s status=%s code=%s fbtrace_id=%s duration_ms=%d%s",
        method,
        path,
        status if status is not None else "-",
        code if code is not None else "-",
        trace or "-",
        duration_ms,
        f" error={type(error).__name__}" if error is not None else "",
        extra={
            "graph_method": method,
            "graph_path": path,
            "graph_status": status,
            "graph_code": code,
            "fbtrace_id": trace,
            "duration_ms": duration_ms,
        },
    )


def _loggable(url: str) -> str:
    """The URL's path only: query strings may hold secrets (client_secret, input_token)."""
    return urlsplit(url).path


def _trace_id(response: requests.Response) -> str:
    return response.headers.get("x-fb-trace-id", "")


def _data(body: Json) -> list[Mapping[str, Any]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise GraphUnexpectedResponseError("Graph response lacks a 'data' list")
    return [item for item in data if isinstance(item, Mapping)]


def _expect_success(body: Json) -> None:
    if body.get("success") is not True:
        raise GraphUnexpectedResponseError("Graph answered without success=true")


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise GraphError(f"media is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
