"""The SDK stand-in and the signup dialog it opens in a popup.

The dialog is a real page: a person picks or creates a business, a WABA and a number, or cancels
or reports a problem. Its script (static, no inline code) finishes the signup through
`complete`, posts Meta's WA_EMBEDDED_SIGNUP message to the opener, and hands the code back to the
SDK, which calls the FB.login callback.
"""

import json
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from sandbox.models import SandboxApp, SandboxBusiness
from sandbox.services import accounts
from sandbox.services.bootstrap import sandbox_bootstrap

DIALOG_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
FEATURE_EVENTS = {
    "only_waba_sharing": "FINISH_ONLY_WABA",
    "whatsapp_business_app_onboarding": "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
}
MAX_BUSINESSES = 20


@require_GET
def sdk(request: HttpRequest) -> FileResponse:
    """/sandbox/sdk.js: a static file, served where Meta's would be loaded from."""
    path = finders.find("sandbox/sdk.js")
    if not path:
        raise Http404("sdk.js is missing")
    response = FileResponse(open(path, "rb"), content_type="text/javascript")  # noqa: SIM115
    response["Cache-Control"] = "no-cache"
    response["Access-Control-Allow-Origin"] = "*"  # pages load it with crossorigin="anonymous"
    return response


def _extras(request: HttpRequest) -> dict[str, Any]:
    try:
        extras = json.loads(request.GET.get("extras") or "{}")
    except ValueError:
        return {}
    return extras if isinstance(extras, dict) else {}


def _customers() -> list[dict[str, Any]]:
    """Recent customer businesses with their WABAs and numbers, for the pickers."""
    businesses = SandboxBusiness.objects.filter(is_partner=False).order_by("-created_at")
    return [
        {
            "id": business.business_id,
            "name": business.name,
            "wabas": [
                {
                    "id": waba.waba_id,
                    "name": waba.name,
                    "phones": [
                        {
                            "id": phone.phone_number_id,
                            "display": phone.display_phone_number,
                            "verified_name": phone.verified_name,
                        }
                        for phone in waba.phone_numbers.order_by("created_at")
                    ],
                }
                for waba in business.wabas.order_by("created_at")
            ],
        }
        for business in businesses.prefetch_related("wabas__phone_numbers")[:MAX_BUSINESSES]
    ]


@require_GET
@ensure_csrf_cookie
def dialog(request: HttpRequest) -> HttpResponse:
    """/sandbox/dialog/oauth/: what FB.login opens."""
    sandbox_bootstrap()
    app = SandboxApp.objects.filter(app_id=request.GET.get("app_id", "")).first()
    extras = _extras(request)
    feature = str(extras.get("featureType") or "")
    context = {
        "app": app,
        "app_id": request.GET.get("app_id", ""),
        "dialog_config": {
            "appId": app.app_id if app else "",
            "appName": app.name if app else "",
            "configId": request.GET.get("config_id", ""),
            "openerOrigin": request.GET.get("origin", ""),
            "featureType": feature,
            "finishEvent": FEATURE_EVENTS.get(feature, "FINISH"),
            "sessionInfoVersion": extras.get("sessionInfoVersion"),
            "completeUrl": request.build_absolute_uri("/sandbox/dialog/oauth/complete/"),
            "customers": _customers() if app else [],
            "currencies": list(accounts.CURRENCIES),
            "csrfToken": get_token(request),
        },
    }
    response = render(request, "sandbox/dialog.html", context, status=200 if app else 400)
    response["Content-Security-Policy"] = DIALOG_CSP
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"  # the dialog posts to its opener
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def complete(request: HttpRequest) -> JsonResponse:
    """The person confirmed: the signup happens and a 30-second code is issued."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The request is not JSON."}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": "The request is not a JSON object."}, status=400)
    app = SandboxApp.objects.filter(app_id=str(data.get("app_id", ""))).first()
    if app is None:
        return JsonResponse({"error": "Invalid App ID."}, status=400)
    fields = (
        "business_id",
        "business_name",
        "waba_id",
        "waba_name",
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "config_id",
    )
    choices = {name: str(data.get(name) or "") for name in fields}
    try:
        signup = accounts.signup_complete(
            app=app,
            event=str(data.get("event") or "FINISH"),
            currency=str(data.get("currency") or "USD"),
            **choices,
        )
    except accounts.SignupError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "code": signup.code,
            "user_id": signup.business.business_id,
            "session_info": signup.session_info(),
            "expires_in": settings.SANDBOX_CODE_TTL_S,
        }
    )
