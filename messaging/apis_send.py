"""POST Message/ (send) answered by a plain Django view whenever the request is the usual kind.

The send is the API's busiest call, and DRF's request wrapping, content negotiation and response
machinery cost more CPU than the send's own checks. So a POST with a JSON body, asking for JSON
(or anything), without an Idempotency-Key, is answered here, with DRF's answers in DRF's order:
Basic auth with its lockout and rate count (onboarding.api.auth), the WhatsApp permission, the
rate limit, the NUL check, then the body, parsed by DRF's own JSONParser, and the send, answered
with DRF's own renderer and exception handler; tests/messaging/test_send_lean.py holds both paths
to the same answers. One thing differs inside: the body is parsed first, so that the Tech
Provider (for its credentials) and its sending number are read in one statement; a body that is
not a valid send is still refused only after the caller is known. Every other request (a form
body, an Idempotency-Key, another Accept, a query string, any other method) goes to MessageApi
unchanged.
"""

import io
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from messaging.apis_messages import body_object, message_queued_output
from messaging.message_input import SendRequest, send_request_parse
from messaging.selectors import Sender, tech_provider_and_sender
from messaging.services.messages import message_send_accept, sender_lookup
from onboarding.api.auth import Gate, auth_gate, auth_verify
from onboarding.api.errors import exception_handler, request_api_id
from onboarding.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from onboarding.api.throttling import rate_admit
from onboarding.apis import refuse_nul
from onboarding.models import TechProvider
from onboarding.selectors import tech_provider_for_auth
from onboarding.services.tech_providers import tech_provider_assert_can_onboard

View = Callable[..., HttpResponse]

# Accept values DRF's negotiation answers with JSON alike (None: no Accept header at all; an
# empty one is refused by DRF with 406, so it goes there)
_ACCEPTS = frozenset((None, "*/*", "application/json"))
_PARSER = JSONParser()
_RENDERER = JSONRenderer()


def _usual(request: HttpRequest) -> bool:
    meta = request.META
    return (
        request.method == "POST"
        and meta.get("CONTENT_TYPE") == "application/json"
        and meta.get("HTTP_ACCEPT") in _ACCEPTS
        and not meta.get(IDEMPOTENCY_HEADER, "").strip()
        # a query string may carry ?format= (DRF's URL_FORMAT_OVERRIDE), which DRF applies
        # before anything else; a send has no use for one
        and not meta.get("QUERY_STRING")
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


def _parsed(request: HttpRequest) -> SendRequest | Exception:
    """The body as a send, or why it is not one: DRF answers that only once the caller is known
    (after auth, permission and rate limit), so the error waits until then."""
    try:
        body = request.body
        data = _PARSER.parse(io.BytesIO(body), "application/json", {}) if body else {}
        return send_request_parse(body_object(data))
    except Exception as exc:  # noqa: BLE001 - raised later, in its turn
        return exc


def _read(gate: Gate, send: SendRequest | Exception) -> tuple[TechProvider | None, Sender | None]:
    """The Tech Provider to check the credentials against, and (for a valid send) its sending
    number, read together in one statement."""
    auth_id = gate.readable_auth_id
    if auth_id is None:
        return None, None
    if isinstance(send, Exception):
        return tech_provider_for_auth(auth_id), None
    return tech_provider_and_sender(auth_id=auth_id, **sender_lookup(send))


def _send(request: HttpRequest, auth_id: str) -> dict[str, Any]:
    gate = auth_gate(header=request.META.get("HTTP_AUTHORIZATION", ""), path_auth_id=auth_id)
    send = _parsed(request)
    found, sender = _read(gate, send)
    tech_provider = auth_verify(gate, found)
    tech_provider_assert_can_onboard(tech_provider)  # DRF: permissions before throttles
    if gate.counted is not None:
        rate_admit(gate.counted)
    refuse_nul(request.GET, {"auth_id": auth_id})
    if isinstance(send, Exception):
        raise send
    accepted = message_send_accept(tech_provider=tech_provider, request=send, sender=sender)
    return {"api_id": request_api_id(request), **message_queued_output(send, accepted)}


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

    # drf-spectacular documents a route by these, and Django's as_view() sets the last two, as
    # for MessageApi's own view
    view.cls = view_class  # type: ignore[attr-defined]
    view.initkwargs = api_view.initkwargs  # type: ignore[attr-defined]
    view.view_class = view_class  # type: ignore[attr-defined]
    view.view_initkwargs = api_view.view_initkwargs  # type: ignore[attr-defined]
    return view
