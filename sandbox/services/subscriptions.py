"""Apps subscribed to WABAs, and the callback overrides Meta verifies with a GET handshake."""

import secrets
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction

from sandbox.graph.errors import GraphError, invalid_parameter
from sandbox.models import SandboxApp, SandboxPhoneNumber, SandboxSubscription, SandboxWaba

MAX_URI_LENGTH = 200


def subscription_create(*, waba: SandboxWaba, app: SandboxApp) -> SandboxSubscription:
    """POST subscribed_apps without a body: subscribe, and drop any WABA override."""
    sub, _ = SandboxSubscription.objects.update_or_create(
        waba=waba, app=app, defaults={"override_callback_uri": "", "verify_token": ""}
    )
    return sub


def subscription_override(
    *, waba: SandboxWaba, app: SandboxApp, uri: str, verify_token: str
) -> SandboxSubscription:
    """POST subscribed_apps with an override: the app must already be subscribed, and the URL
    must answer the verification handshake, before Meta stores it."""
    override_validate(uri, verify_token)
    sub = SandboxSubscription.objects.filter(waba=waba, app=app).first()
    if sub is None:
        raise invalid_parameter(
            "The app must be subscribed to this WhatsApp Business Account before an "
            "override_callback_uri can be set. Subscribe it first, then set the override."
        )
    handshake(uri, verify_token)  # network: outside any transaction
    with transaction.atomic():
        sub.override_callback_uri = uri
        sub.verify_token = verify_token
        sub.save(update_fields=["override_callback_uri", "verify_token", "updated_at"])
    return sub


def subscription_delete(*, waba: SandboxWaba, app: SandboxApp) -> None:
    SandboxSubscription.objects.filter(waba=waba, app=app).delete()


def phone_override_set(*, phone: SandboxPhoneNumber, uri: str, verify_token: str) -> None:
    """POST /{phone_number_id} webhook_configuration: verified like a WABA override; an empty
    URI removes it."""
    if uri:
        override_validate(uri, verify_token)
        handshake(uri, verify_token)
    phone.override_callback_uri = uri
    phone.override_verify_token = verify_token if uri else ""
    phone.save(update_fields=["override_callback_uri", "override_verify_token", "updated_at"])


def override_validate(uri: str, verify_token: str) -> None:
    if not uri:
        raise invalid_parameter("The parameter override_callback_uri is required")
    if not verify_token:
        raise invalid_parameter("The parameter verify_token is required")
    if len(uri) > MAX_URI_LENGTH:
        raise invalid_parameter(
            f"Param override_callback_uri must be at most {MAX_URI_LENGTH} characters long"
        )
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_parameter("Param override_callback_uri must be a valid URL")


def handshake(uri: str, verify_token: str) -> None:
    """Meta's verification request: GET with hub.mode, hub.challenge and hub.verify_token; the
    endpoint must answer 200 with exactly the challenge as its body."""
    challenge = str(secrets.randbelow(9 * 10**9) + 10**9)
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
    try:
        response = requests.get(
            uri,
            params=params,
            timeout=settings.SANDBOX_HANDSHAKE_TIMEOUT_S,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise _verification_failed(f"curl_errno = 7; curl_error = {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise _verification_failed(
            f"HTTP Status Code = {response.status_code}; HTTP Message = {response.reason}"
        )
    received = response.text[:100]
    if received != challenge:
        raise _verification_failed(
            "The URL couldn't be validated. Response does not match challenge, "
            f'expected value="{challenge}", received="{received}"'
        )


def _verification_failed(detail: str) -> GraphError:
    return GraphError(
        2200, f"(#2200) Callback verification failed with the following errors: {detail}"
    )
