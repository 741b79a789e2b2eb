"""POST Message/ (send) answered by a plain Django view whenever the request is the usual kind.

The send is the API's busiest call, and DRF's request wrapping, content negotiation and response
machinery cost more CPU than the send's own checks and INSERT. So a POST with a JSON body, asking
for JSON (or anything), without an Idempotency-Key, is answered here through the same steps in
DRF's order: Basic auth with its lockout and the rate count (onboarding.api.auth), the WhatsApp
permission, the rate limit, the NUL check, DRF's own JSON parser, the send itself
(apis_messages.message_send), and DRF's own renderer and exception handler, so both paths answer
alike, byte for byte; tests/messaging/test_send_lean.py holds them to it. Every other request (a
form body, an Idempotency-Key, another Accept, any other method) goes to MessageApi unchanged.
"""

import io
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from messaging.apis_messages import body_object, message_send
from onboarding.api.auth import basic_auth_check
from onboarding.api.errors import exception_handler, request_api_id
from onboarding.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from onboarding.api.throttling import rate_admit
from onboarding.apis import refuse_nul
from onboarding.services.tech_providers import tech_provider_assert_can_onboard

View = Callable[..., HttpResponse]

_ACCEPTS = frozenset(("", "*/*", "application/json"))  # what DRF's negotiation maps to JSON alike
_PARSER = JSONParser()
_RENDERER = JSONRenderer()


def _usual(request: HttpRequest) -> bool:
    meta = request.META
    return (
        request.method == "POST"
        and meta.get("CONTENT_TYPE") == "application/json"
        and meta.get("HTTP_ACCEPT", "") in _ACCEPTS
        and not meta.get(IDEMPOTENCY_HEADER, "").strip()
    )


def _allow(view_class: type[APIView]) -> str:
    """DRF's Allow header for this view (HEAD follows GET, as as_view sets it up)."""
    view = view_class()
    view.setup(HttpRequest())
    return ", ".join(view.allowed_methods)


def _json(data: Any, status: int, allow: str) -> HttpResponse:
    response = HttpResponse(_RENDERER.render(data), status=status, content_type="application/json")
    response["Allow"] = allow
    return response


def _error(request: HttpRequest, exc: Exception, allow: str) -> HttpResponse:
    """The exception as DRF's exception handler answers it (its shape, status and headers)."""
    handled = exception_handler(exc, {"request": request})
    response = _json(handled.data, handled.status_code, allow)
    for header in ("WWW-Authenticate", "Retry-After"):
        if header in handled:
            response[header] = handled[header]
    return response


def _parsed(request: HttpRequest) -> dict[str, Any]:
    body = request.body
    data = _PARSER.parse(io.BytesIO(body), "application/json", {}) if body else {}
    return body_object(data)


def _send(request: HttpRequest, auth_id: str) -> dict[str, Any]:
    tech_provider, counted = basic_auth_check(
        header=request.META.get("HTTP_AUTHORIZATION", ""), path_auth_id=auth_id
    )
    tech_provider_assert_can_onboard(tech_provider)  # DRF: permissions before throttles
    if counted is not None:
        rate_admit(counted)
    refuse_nul(request.GET, {"auth_id": auth_id})
    return {"api_id": request_api_id(request), **message_send(tech_provider, _parsed(request))}


def lean_send(api_view: View) -> View:
    """`api_view` (MessageApi.as_view()), with the usual POST answered here instead."""
    view_class = api_view.cls  # type: ignore[attr-defined]
    allow = _allow(view_class)

    @csrf_exempt
    def view(request: HttpRequest, auth_id: str) -> HttpResponse:
        if not _usual(request):
            return api_view(request, auth_id=auth_id)
        try:
            return _json(_send(request, auth_id), 202, allow)
        except Exception as exc:  # noqa: BLE001 - every failure answers in the API's shape
            return _error(request, exc, allow)

    # drf-spectacular documents a route by these, as it would MessageApi's own
    view.cls = view_class  # type: ignore[attr-defined]
    view.initkwargs = api_view.initkwargs  # type: ignore[attr-defined]
    return view
