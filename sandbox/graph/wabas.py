"""Handlers on a WABA: its fields, numbers, assigned users and subscribed apps."""

from typing import Any

from sandbox.graph.access import waba_for
from sandbox.graph.nodes import render
from sandbox.graph.phone_numbers import phone_fields
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxSubscription, SandboxWaba
from sandbox.services import subscriptions

WABA_DEFAULT_FIELDS = ["id", "name", "timezone_id", "message_template_namespace"]
PHONE_LIST_DEFAULT_FIELDS = [
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
    "id",
]


def waba_get(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    waba_for(req, waba)
    business = waba.business
    fields = {
        "id": lambda: waba.waba_id,
        "name": lambda: waba.name,
        "currency": lambda: waba.currency,
        "timezone_id": lambda: waba.timezone_id,
        "message_template_namespace": lambda: waba.message_template_namespace,
        "account_review_status": lambda: waba.account_review_status,
        "business_verification_status": lambda: "verified",
        "ownership_type": lambda: "CLIENT_OWNED",
        "primary_funding_id": lambda: waba.primary_funding_id,
        "owner_business_info": lambda: {"name": business.name, "id": business.business_id},
        "on_behalf_of_business_info": lambda: {
            "name": business.name,
            "id": business.business_id,
            "status": "APPROVED",
            "type": "SELF",
        },
        "country": lambda: "US",
        "health_status": lambda: {"can_send_message": "AVAILABLE", "entities": []},
    }
    return render("waba", fields, req.fields(), WABA_DEFAULT_FIELDS)


def phone_numbers_list(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    principal = waba_for(req, waba)
    requested = req.fields()
    data = [
        render(
            "phone_number", phone_fields(phone, principal.app), requested, PHONE_LIST_DEFAULT_FIELDS
        )
        for phone in waba.phone_numbers.order_by("created_at", "id")
    ]
    return {"data": data}


def assigned_users_add(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    """Adding the partner's system user to the WABA (a prerequisite of credit sharing)."""
    waba_for(req, waba)
    req.str_param("user", required=True)
    req.str_param("tasks", required=True)
    return {"success": True}


def subscribed_apps_get(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    waba_for(req, waba)
    data = []
    for sub in SandboxSubscription.objects.filter(waba=waba).select_related("app"):
        item: dict[str, Any] = {
            "whatsapp_business_api_data": {
                "link": f"https://www.facebook.com/games/?app_id={sub.app.app_id}",
                "name": sub.app.name,
                "id": sub.app.app_id,
            }
        }
        if sub.override_callback_uri:
            item["override_callback_uri"] = sub.override_callback_uri
        data.append(item)
    return {"data": data}


def subscribed_apps_post(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    principal = waba_for(req, waba)
    uri = req.str_param("override_callback_uri")
    token = req.str_param("verify_token")
    if uri or token:
        subscriptions.subscription_override(
            waba=waba, app=principal.app, uri=uri, verify_token=token
        )
    else:
        subscriptions.subscription_create(waba=waba, app=principal.app)
    return {"success": True}


def subscribed_apps_delete(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    principal = waba_for(req, waba)
    subscriptions.subscription_delete(waba=waba, app=principal.app)
    return {"success": True}
