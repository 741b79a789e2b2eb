"""Control endpoints: simulated signups, fault injection, the call log, pushed events, flushes.

Every endpoint takes and returns JSON; errors are {"error": "..."} with 400 or 404.
"""

import base64
import binascii
from typing import Any

from django.conf import settings
from django.forms.models import model_to_dict
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from sandbox import clock
from sandbox.control.base import ControlError, control, flag, integer, text
from sandbox.models import (
    SandboxApp,
    SandboxCall,
    SandboxFault,
    SandboxMessage,
    SandboxPhoneNumber,
    SandboxTemplate,
    SandboxWaba,
    SandboxWebhook,
)
from sandbox.selectors import sandbox_calls, sandbox_webhooks
from sandbox.services import accounts, admin_ops, dispatch, events, faults, templates, webhooks
from sandbox.services.bootstrap import (
    CONFIG_FIELDS,
    sandbox_app_create,
    sandbox_config_get,
    sandbox_config_update,
)

Body = dict[str, Any]


@control("POST")
def signups(request: HttpRequest, data: Body) -> tuple[int, Body]:
    """A finished Embedded Signup without a browser."""
    app_id = text(data, "app_id", settings.SANDBOX_APP_ID)
    app = get_object_or_404(SandboxApp, app_id=app_id)
    signup = accounts.signup_complete(
        app=app,
        event=text(data, "event", "FINISH"),
        business_id=text(data, "business_id"),
        business_name=text(data, "business_name"),
        waba_id=text(data, "waba_id"),
        waba_name=text(data, "waba_name"),
        currency=text(data, "currency", "USD"),
        phone_number_id=text(data, "phone_number_id"),
        display_phone_number=text(data, "display_phone_number"),
        verified_name=text(data, "verified_name"),
        config_id=text(data, "config_id"),
    )
    return 201, signup.as_json()


@control("POST")
def apps(request: HttpRequest, data: Body) -> tuple[int, Body]:
    """Another partner app (e.g. a Tech Provider's own Meta app)."""
    app_id, secret = text(data, "app_id"), text(data, "secret")
    if not app_id.isdigit() or not secret:
        raise ControlError("app_id (digits) and secret are required")
    if SandboxApp.objects.filter(app_id=app_id).exists():
        raise ControlError(f"app {app_id} exists", status=409)
    app, token = sandbox_app_create(
        app_id=app_id,
        secret=secret,
        name=text(data, "name"),
        callback_url=text(data, "callback_url"),
    )
    credit_line = app.business.credit_lines.get()
    return 201, {
        "app_id": app.app_id,
        "business_id": app.business.business_id,
        "credit_line_id": credit_line.credit_line_id,
        "system_user_token": token,
    }


def _fault_json(fault: SandboxFault) -> Body:
    return model_to_dict(fault) | {"id": fault.pk, "times": fault.remaining}


@control("GET", "POST", "DELETE")
def fault_list(request: HttpRequest, data: Body) -> Any:
    if request.method == "GET":
        return {"data": [_fault_json(f) for f in SandboxFault.objects.filter(is_active=True)]}
    if request.method == "DELETE":
        return {"cleared": faults.fault_clear()}
    kind = text(data, "kind", SandboxFault.Kind.ERROR)
    times = data.get("times", 1)
    fault = faults.fault_create(
        endpoint=text(data, "endpoint") or "*",
        object_id=text(data, "object_id"),
        kind=kind,
        error_code=integer(data, "error_code"),
        error_subcode=integer(data, "error_subcode"),
        error_message=text(data, "error_message"),
        http_status=integer(data, "http_status"),
        latency_ms=integer(data, "latency_ms", 0) or 0,
        with_effect=flag(data, "with_effect"),
        times=None if times is None else integer(data, "times", 1),
    )
    return 201, _fault_json(fault)


@control("DELETE")
def fault_detail(request: HttpRequest, data: Body, fault_id: int) -> Body:
    get_object_or_404(SandboxFault, pk=fault_id)
    return {"cleared": faults.fault_clear(fault_id=fault_id)}


def _call_json(call: SandboxCall) -> Body:
    return model_to_dict(call) | {"id": call.pk, "received_at": call.received_at.isoformat()}


@control("GET", "DELETE")
def calls(request: HttpRequest, data: Body) -> Body:
    if request.method == "DELETE":
        deleted, _ = SandboxCall.objects.all().delete()
        return {"deleted": deleted}
    found = sandbox_calls(
        endpoint=data.get("endpoint"),
        method=data.get("method"),
        object_id=data.get("object_id"),
        error_code=integer(data, "error_code"),
    )
    limit = integer(data, "limit", 200) or 200
    return {"count": found.count(), "data": [_call_json(c) for c in found[:limit]]}


def _hook_json(hook: SandboxWebhook) -> Body:
    return {
        "id": hook.pk,
        "field": hook.field,
        "url": hook.url,
        "target": hook.target,
        "waba_id": hook.waba_id,
        "status": hook.status,
        "attempts": hook.attempts,
        "last_status_code": hook.last_status_code,
        "last_error": hook.last_error,
        "description": hook.description,
        "deliver_after": hook.deliver_after.isoformat(),
        "body": hook.body,
    }


@control("GET")
def webhook_list(request: HttpRequest, data: Body) -> Body:
    hooks = sandbox_webhooks(
        field=data.get("field"), status=data.get("status"), waba_id=data.get("waba_id")
    )
    return {"data": [_hook_json(h) for h in hooks.order_by("-id")[:200]]}


@control("POST")
def webhook_redeliver(request: HttpRequest, data: Body, webhook_id: int) -> tuple[int, Body]:
    hook = get_object_or_404(SandboxWebhook.objects.select_related("app"), pk=webhook_id)
    copies = webhooks.webhook_redeliver(webhook=hook, times=integer(data, "times", 1) or 1)
    return 201, {"data": [_hook_json(h) for h in copies]}


@control("POST")
def flush(request: HttpRequest, data: Body) -> Body:
    """Run due template reviews and send every pending webhook now (in order)."""
    sent = dispatch.flush(ignore_delays=flag(data, "ignore_delays", True))
    return {"data": [_hook_json(h) for h in sent]}


@control("POST")
def inbound(request: HttpRequest, data: Body) -> tuple[int, Body]:
    """A customer message to a business number (opens the 24-hour window)."""
    phone = get_object_or_404(
        SandboxPhoneNumber.objects.select_related("waba"),
        phone_number_id=text(data, "phone_number_id"),
    )
    content = None
    if data.get("media_base64"):
        try:
            content = base64.b64decode(text(data, "media_base64"), validate=True)
        except binascii.Error as exc:
            raise ControlError("media_base64 is not base64") from exc
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise ControlError("extra must be an object")
    message, hooks = events.inbound_inject(
        phone=phone,
        from_wa_id=text(data, "from", "15550009999"),
        kind=text(data, "type", "text"),
        text=text(data, "text", "Hello from the sandbox"),
        profile_name=text(data, "name", "Sandbox Customer"),
        duplicate=integer(data, "duplicate", 0) or 0,
        media_content=content,
        mime_type=text(data, "mime_type"),
        extra=extra,
    )
    return 201, {
        "wamid": message.wamid,
        "message": message.payload,
        "webhooks": [_hook_json(h) for h in hooks],
    }


@control("POST")
def statuses(request: HttpRequest, data: Body, wamid: str) -> tuple[int, Body]:
    """Statuses for a sent message, in any order, batched or duplicated."""
    message = get_object_or_404(
        SandboxMessage.objects.select_related("phone_number__waba"), wamid=wamid, direction="out"
    )
    order = data.get("statuses")
    if not isinstance(order, list):
        raise ControlError('statuses must be a list, e.g. ["read", "delivered", "sent"]')
    hooks = events.statuses_inject(
        message=message,
        statuses=[str(s) for s in order],
        batch=flag(data, "batch"),
        duplicate=integer(data, "duplicate", 0) or 0,
        error_code=integer(data, "error_code"),
    )
    return 201, {"data": [_hook_json(h) for h in hooks]}


@control("GET", "POST")
def phone_number(request: HttpRequest, data: Body, phone_number_id: str) -> Body:
    phone = get_object_or_404(SandboxPhoneNumber, phone_number_id=phone_number_id)
    if request.method == "POST":
        choices = {k: text(data, k) for k in admin_ops.PHONE_FIELDS if k in data}
        admin_ops.phone_number_update(
            phone=phone,
            throughput_mps=integer(data, "throughput_mps"),
            register_error_code=integer(data, "register_error_code"),
            clear_pin=flag(data, "clear_pin"),
            **choices,
        )
    fields = model_to_dict(phone, exclude=["pin_hash", "waba"])
    return fields | {"waba_id": phone.waba.waba_id, "has_pin": bool(phone.pin_hash)}


@control("POST")
def quality(request: HttpRequest, data: Body, phone_number_id: str) -> tuple[int, Body]:
    phone = get_object_or_404(
        SandboxPhoneNumber.objects.select_related("waba"), phone_number_id=phone_number_id
    )
    hooks = events.quality_update(
        phone=phone,
        event=text(data, "event", "FLAGGED"),
        quality_rating=text(data, "quality_rating"),
        messaging_limit_tier=text(data, "messaging_limit_tier"),
        throughput_level=text(data, "throughput_level"),
    )
    return 201, {"data": [_hook_json(h) for h in hooks]}


@control("POST")
def template_status(request: HttpRequest, data: Body, template_id: str) -> Body:
    template = get_object_or_404(
        SandboxTemplate.objects.select_related("waba"), template_id=template_id
    )
    other_info = data.get("other_info")
    if other_info is not None and not isinstance(other_info, dict):
        raise ControlError("other_info must be an object")
    if "quality_score" in data:
        templates.template_quality_event(template=template, new_score=text(data, "quality_score"))
    if "status" in data:
        templates.template_status_set(
            template=template,
            status=text(data, "status"),
            reason=text(data, "reason", "NONE"),
            other_info=other_info,
        )
    return {
        "id": template.template_id,
        "status": template.status,
        "quality_score": template.quality_score,
    }


@control("POST")
def account_update(request: HttpRequest, data: Body, waba_id: str) -> tuple[int, Body]:
    waba = get_object_or_404(SandboxWaba.objects.select_related("business"), waba_id=waba_id)
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise ControlError("extra must be an object")
    hooks = events.account_update(waba=waba, event=text(data, "event"), extra=extra)
    return 201, {"data": [_hook_json(h) for h in hooks]}


@control("GET", "POST")
def config(request: HttpRequest, data: Body) -> Body:
    if request.method == "POST":
        sandbox_config_update(**data)
    current = sandbox_config_get()
    return {name: getattr(current, name) for name in CONFIG_FIELDS}


@control("POST", "DELETE")
def clock_view(request: HttpRequest, data: Body) -> Body:
    """Advance the simulated clock of this server process (or reset it with DELETE)."""
    if request.method == "DELETE":
        clock.reset()
    else:
        seconds = data.get("advance_s")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise ControlError("advance_s must be a non-negative number")
        clock.advance(float(seconds))
    dispatch.wake()  # what falls due has moved: the dispatcher computes its wait again
    return {"now": clock.now().isoformat()}


@control("POST")
def reset(request: HttpRequest, data: Body) -> Body:
    admin_ops.sandbox_reset()
    clock.reset()
    return {"reset": True}
