"""Handlers for `oauth/access_token` (code exchange, token refresh) and `debug_token`."""

from typing import Any

from sandbox import clock, ids
from sandbox.graph.auth import APP
from sandbox.graph.errors import GraphError
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxApp, SandboxToken
from sandbox.services import accounts

BUSINESS_SCOPES = ["whatsapp_business_management", "whatsapp_business_messaging", "public_profile"]
SYSTEM_USER_SCOPES = [
    "business_management",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
]


def access_token(req: GraphRequest, node: object) -> dict[str, Any]:
    client_id = req.str_param("client_id", required=True)
    client_secret = req.str_param("client_secret", required=True)
    if req.str_param("grant_type") == "fb_exchange_token":
        return accounts.token_refresh(
            client_id=client_id,
            client_secret=client_secret,
            token=req.str_param("fb_exchange_token", required=True),
        )
    return accounts.code_exchange(
        client_id=client_id, client_secret=client_secret, code=req.str_param("code")
    )


def debug_token(req: GraphRequest, node: object) -> dict[str, Any]:
    viewer = req.authenticate()
    input_token = req.str_param("input_token", required=True)
    if "|" in input_token:
        return {"data": _app_token_data(input_token)}
    found = (
        SandboxToken.objects.select_related("app")
        .filter(token_hash=ids.digest(input_token))
        .first()
    )
    if found is None:
        return {
            "data": {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": False,
                "scopes": [],
            }
        }
    if found.app_id != viewer.app.pk:
        raise GraphError(100, "(#100) The App_id in the input_token did not match the Viewing App")
    return {"data": _token_data(found)}


def _app_token_data(token: str) -> dict[str, Any]:
    app_id, _, secret = token.partition("|")
    app = SandboxApp.objects.filter(app_id=app_id).first()
    valid = app is not None and app.secret == secret
    data: dict[str, Any] = {"app_id": app_id, "type": APP, "is_valid": valid, "scopes": []}
    if app is not None:
        data["application"] = app.name
    return data


def _token_data(token: SandboxToken) -> dict[str, Any]:
    now = clock.now()
    expired = token.expires_at is not None and token.expires_at <= now
    business = token.kind == SandboxToken.Kind.BUSINESS
    scopes = BUSINESS_SCOPES if business else SYSTEM_USER_SCOPES
    granular: list[dict[str, Any]] = []
    for scope in scopes[:2] if business else scopes:
        entry: dict[str, Any] = {"scope": scope}
        if business:
            entry["target_ids"] = list(token.target_waba_ids)
        granular.append(entry)
    data: dict[str, Any] = {
        "app_id": token.app.app_id,
        "type": "SYSTEM_USER",
        "application": token.app.name,
        "data_access_expires_at": 0,
        "expires_at": int(token.expires_at.timestamp()) if token.expires_at else 0,
        "is_valid": token.revoked_at is None and not expired,
        "issued_at": int(token.issued_at.timestamp()),
        "scopes": list(scopes),
        "granular_scopes": granular,
        "user_id": token.user_id,
    }
    if expired and token.expires_at is not None:
        data["error"] = {
            "code": 190,
            "subcode": 463,
            "message": "Error validating access token: Session has expired on "
            f"{token.expires_at:%A, %d-%b-%y %H:%M:%S} UTC.",
        }
    return data
