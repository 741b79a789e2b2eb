"""The hosted Connect WhatsApp page and the small JSON endpoints behind it.

The page is a server-rendered template; its script is a static file allowed by a per-response
CSP nonce. The submit endpoint is DRF, CSRF-protected, and bound to the page's Tech Provider by
the one-time nonce the page was rendered with.
"""

import json
import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding import csp, selectors
from onboarding.api.errors import error_body
from onboarding.models import OnboardingStep, TechProvider
from onboarding.services.connect import (
    Accepted,
    ConnectRejected,
    Submission,
    connect_submit,
    signup_session_open,
)

logger = logging.getLogger(__name__)

STEP_LABELS = {
    OnboardingStep.Name.SUBSCRIBE_WEBHOOKS: "Routing your WhatsApp messages to us",
    OnboardingStep.Name.SHARE_CREDIT_LINE: "Setting up billing",
    OnboardingStep.Name.REGISTER_PHONE_NUMBER: "Registering your phone number",
    OnboardingStep.Name.FETCH_PHONE_NUMBER: "Checking your number's details",
    OnboardingStep.Name.ACTIVATE: "Activating your account",
}
STATUS_LABELS = {
    "pending": "Waiting",
    "running": "In progress",
    "waiting": "Retrying soon",
    "succeeded": "Done",
    "failed": "Stopped",
    "skipped": "Not needed",
}


def _tech_provider(public_id: str) -> TechProvider:
    if "\x00" in public_id:  # PostgreSQL text cannot hold NUL: was a 500
        raise Http404("No such signup page")
    tech_provider = selectors.tech_provider_get_by_public_id(public_id)
    if tech_provider is None:
        raise Http404("No such signup page")
    return tech_provider


def _sdk_url() -> str:
    if settings.SANDBOX_ENABLED:
        return f"{csp.sandbox_origin()}/sandbox/sdk.js"
    return str(settings.META_SDK_URL)


def _page_config(
    request: HttpRequest, tp: TechProvider, nonce: str, csp_nonce: str
) -> dict[str, Any]:
    reference = request.GET.get("reference", "")[:64]
    return {
        "appId": tp.meta_app_id,
        "configId": tp.meta_config_id,
        "graphVersion": settings.GRAPH_API_VERSION,
        "sessionInfoVersion": tp.session_info_version or settings.SESSION_INFO_VERSION_DEFAULT,
        "featureType": tp.es_feature_type,
        "esVersion": tp.es_version,
        "setup": {},
        "sdkUrl": _sdk_url(),
        "sandboxOrigin": csp.sandbox_origin(),
        "nonce": nonce,
        "reference": reference,
        "csrfToken": get_token(request),
        "cspNonce": csp_nonce,
        "submitUrl": reverse("pages:connect-submit", kwargs={"public_id": tp.public_id}),
    }


@require_GET
def connect_page(request: HttpRequest, public_id: str) -> HttpResponse:
    """The Connect WhatsApp page of one Tech Provider (`?reference=` is the TP's own id)."""
    tech_provider = _tech_provider(public_id)
    page = signup_session_open(
        tech_provider=tech_provider, reference=request.GET.get("reference", "")
    )
    csp_nonce = csp.new_nonce()
    context = {
        "tech_provider_name": tech_provider.name,
        "platform_name": settings.PLATFORM_NAME,
        "sandbox": settings.SANDBOX_ENABLED,
        "csp_nonce": csp_nonce,
        "page_config": _page_config(request, tech_provider, page.nonce, csp_nonce),
    }
    response = render(request, "onboarding/connect.html", context)
    response["Cache-Control"] = "no-store"
    return csp.apply(response, csp_nonce)


class CsrfEnforced(BaseAuthentication):
    """No user, but Django's CSRF check, which DRF skips for anonymous requests."""

    def authenticate(self, request: Request) -> None:
        def no_view(request: HttpRequest) -> HttpResponse:
            return HttpResponse()

        check = CSRFCheck(no_view)
        check.process_request(request._request)
        reason = check.process_view(request._request, no_view, (), {})
        if reason:
            raise exceptions.PermissionDenied("The page's security token is missing; reload it.")


def _submission(data: Any) -> Submission:
    if not isinstance(data, dict) or not isinstance(data.get("nonce"), str):
        raise ConnectRejected("This page has expired. Reload it and try again.")
    details = data.get("data")
    return Submission(
        nonce=data["nonce"],
        code=str(data.get("code") or ""),
        event=str(data.get("event") or "")[:64],
        data=details if isinstance(details, dict) else {},
    )


class ConnectSubmitApi(APIView):
    """POST the dialog's outcome: the code and session info, or where the customer stopped."""

    authentication_classes = [CsrfEnforced]
    permission_classes: list[Any] = []

    def post(self, request: Request, public_id: str) -> Response:
        tech_provider = _tech_provider(public_id)
        try:
            accepted = connect_submit(
                tech_provider=tech_provider, submission=_submission(request.data)
            )
        except ConnectRejected as rejected:
            body = {**error_body(request, rejected.message), "nonce": _fresh_nonce(tech_provider)}
            return Response(body, status=400)
        if accepted is None:
            return Response(_abandoned_body(tech_provider))
        return Response(_accepted_body(tech_provider, accepted))


def _fresh_nonce(tech_provider: TechProvider) -> str:
    return signup_session_open(tech_provider=tech_provider).nonce


def _abandoned_body(tech_provider: TechProvider) -> dict[str, str]:
    return {
        "status": "cancelled",
        "title": "Signup not finished",
        "message": "Nothing was connected. You can start again whenever you are ready.",
        "nonce": _fresh_nonce(tech_provider),
    }


def _accepted_body(tech_provider: TechProvider, accepted: Accepted) -> dict[str, str]:
    url = reverse(
        "pages:connect-status",
        kwargs={"public_id": tech_provider.public_id, "status_token": accepted.status_token},
    )
    return {
        "status": accepted.onboarding.status,
        "waba_id": accepted.onboarding.waba.waba_id,
        "message": "Meta confirmed your signup. We are now setting up your number.",
        "status_url": url,
    }


class ConnectStatusApi(APIView):
    """GET the customer's view of their onboarding: each step, in words, and the outcome."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get(self, request: Request, public_id: str, status_token: str) -> Response:
        session = selectors.signup_session_get_by_status_token(
            tech_provider=_tech_provider(public_id), status_token=status_token
        )
        onboarding = session.waba.onboarding  # type: ignore[union-attr]  # waba is set
        steps = [
            {
                "name": step.name,
                "label": STEP_LABELS.get(OnboardingStep.Name(step.name), step.name),
                "status": step.status,
                "status_label": STATUS_LABELS.get(step.status, step.status),
                "note": step.note if step.status in ("skipped", "failed") else "",
            }
            for step in selectors.onboarding_steps(onboarding)
        ]
        return Response(
            {
                "status": onboarding.status,
                "failure_reason": onboarding.failure_reason,
                "steps": steps,
                "message": "" if onboarding.status != "active" else "You can now send messages.",
            }
        )


@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Browsers report CSP violations here; they are logged for us to look at."""
    try:
        report = json.loads(request.body[:16384] or b"{}")
    except ValueError:
        report = {"unparsable": True}
    logger.warning("csp violation", extra={"csp_report": report})
    return HttpResponse(status=204)
