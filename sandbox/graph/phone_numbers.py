"""Handlers on a phone number: its fields, webhook override, register and deregister."""

from typing import Any

from sandbox.graph.access import waba_for
from sandbox.graph.errors import invalid_parameter
from sandbox.graph.nodes import display_number, graph_time, render
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxApp, SandboxPhoneNumber, SandboxSubscription
from sandbox.services import registration, subscriptions
from sandbox.services.webhooks import app_callback_url

PHONE_DEFAULT_FIELDS = [
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
    "webhook_configuration",
    "id",
]


def phone_fields(phone: SandboxPhoneNumber, app: SandboxApp) -> dict[str, Any]:
    return {
        "id": lambda: phone.phone_number_id,
        "display_phone_number": lambda: display_number(phone.display_phone_number),
        "verified_name": lambda: phone.verified_name,
        "status": lambda: phone.status,
        "quality_rating": lambda: phone.quality_rating,
        "code_verification_status": lambda: phone.code_verification_status,
        "name_status": lambda: phone.name_status,
        "new_name_status": lambda: "NONE",
        "platform_type": lambda: phone.platform_type,
        "throughput": lambda: {"level": phone.throughput_level},
        "messaging_limit_tier": lambda: phone.messaging_limit_tier,
        "whatsapp_business_manager_messaging_limit": lambda: phone.messaging_limit_tier,
        "is_official_business_account": lambda: False,
        "is_pin_enabled": lambda: bool(phone.pin_hash),
        "account_mode": lambda: "LIVE",
        "is_on_biz_app": lambda: phone.is_coexistence,
        "last_onboarded_time": lambda: graph_time(phone.last_onboarded_time),
        "data_localization_region": lambda: phone.data_localization_region,
        "webhook_configuration": lambda: _webhook_configuration(phone, app),
        "health_status": lambda: {
            "can_send_message": "AVAILABLE" if phone.is_registered else "BLOCKED",
            "entities": [],
        },
    }


def _webhook_configuration(phone: SandboxPhoneNumber, app: SandboxApp) -> dict[str, str]:
    config = {"application": app_callback_url(app)}
    sub = SandboxSubscription.objects.filter(waba=phone.waba, app=app).first()
    if sub is not None and sub.override_callback_uri:
        config["whatsapp_business_account"] = sub.override_callback_uri
    if phone.override_callback_uri:
        config["phone_number"] = phone.override_callback_uri
    return config


def phone_get(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    principal = waba_for(req, phone.waba)
    return render(
        "phone_number", phone_fields(phone, principal.app), req.fields(), PHONE_DEFAULT_FIELDS
    )


def phone_update(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    """POST /{phone_number_id} with webhook_configuration (set, or "" to remove)."""
    waba_for(req, phone.waba)
    config = req.json_param("webhook_configuration")
    if not isinstance(config, dict):
        raise invalid_parameter("The parameter webhook_configuration is required")
    subscriptions.phone_override_set(
        phone=phone,
        uri=str(config.get("override_callback_uri") or ""),
        verify_token=str(config.get("verify_token") or ""),
    )
    return {"success": True}


def register(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    waba_for(req, phone.waba)
    if req.str_param("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required")
    registration.phone_number_register(
        phone=phone,
        pin=req.str_param("pin", required=True),
        region=req.str_param("data_localization_region"),
    )
    return {"success": True}


def deregister(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    waba_for(req, phone.waba)
    registration.phone_number_deregister(phone=phone)
    return {"success": True}
