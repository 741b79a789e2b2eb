"""The EmbeddedSignup REST API: one view per resource, each a thin layer over services/selectors."""

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding import selectors
from onboarding.api.auth import TechProviderBasicAuthentication, tech_provider_of
from onboarding.api.errors import request_api_id
from onboarding.api.idempotency import idempotent
from onboarding.api.pagination import paginate
from onboarding.api.throttling import TechProviderRateThrottle
from onboarding.errors import NotFound
from onboarding.models import Onboarding
from onboarding.serializers import WabaDetailOutput, WabaOutput, waba_resource_uri
from onboarding.services.pipeline import onboarding_retry
from onboarding.services.signup import embedded_signup_submit
from onboarding.services.tech_providers import tech_provider_assert_can_onboard
from onboarding.signup_input import signup_input_validate


class WhatsAppAccess(BasePermission):
    """403 with the exact message when the account may not use WhatsApp onboarding."""

    def has_permission(self, request: Request, view: Any) -> bool:
        tech_provider_assert_can_onboard(tech_provider_of(request))
        return True


class TechProviderApi(APIView):
    """Base of every /v1/Account/{auth_id}/ view: Basic auth, and an api_id in every body."""

    authentication_classes = [TechProviderBasicAuthentication]
    permission_classes = [WhatsAppAccess]
    throttle_classes = [TechProviderRateThrottle]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if isinstance(response.data, dict) and "api_id" not in response.data:
            response.data = {"api_id": request_api_id(request), **response.data}
        return super().finalize_response(request, response, *args, **kwargs)


class EmbeddedSignupApi(TechProviderApi):
    """POST: accept a finished Embedded Signup. GET: list this Tech Provider's WABAs."""

    @idempotent
    def post(self, request: Request, auth_id: str) -> Response:
        signup = signup_input_validate(request.data)
        onboarding = embedded_signup_submit(tech_provider=tech_provider_of(request), signup=signup)
        waba = onboarding.waba
        body = {
            "api_id": request_api_id(request),
            "message": "Embedded Signup accepted; the WABA is being onboarded.",
            "waba_id": waba.waba_id,
            "business_id": waba.business_id,
            "phone_number_id": signup.phone_number_id,
            "reference": waba.reference,
            "status": waba.status,
            "onboarding_status": onboarding.status,
            "resource_uri": waba_resource_uri(waba),
        }
        body["status_url"] = f"{settings.PUBLIC_BASE_URL}{body['resource_uri']}"
        return Response(body, status=200)

    def get(self, request: Request, auth_id: str) -> Response:
        wabas = selectors.waba_list_for_tech_provider(
            tech_provider=tech_provider_of(request),
            status=request.query_params.get("status"),
            reference=request.query_params.get("reference"),
        )
        items, meta = paginate(request, wabas)
        return Response({"meta": meta, "objects": WabaOutput(items, many=True).data})


class EmbeddedSignupDetailApi(TechProviderApi):
    """GET one WABA with its numbers, every onboarding step and the audit trail."""

    def get(self, request: Request, auth_id: str, waba_id: str) -> Response:
        waba = selectors.waba_get_for_tech_provider(
            tech_provider=tech_provider_of(request), waba_id=waba_id
        )
        return Response(WabaDetailOutput(waba).data)


class EmbeddedSignupRetryApi(TechProviderApi):
    """POST: resume a failed onboarding from its failed step; 409 unless it failed."""

    @idempotent
    def post(self, request: Request, auth_id: str, waba_id: str) -> Response:
        tech_provider = tech_provider_of(request)
        waba = selectors.waba_get_for_tech_provider(tech_provider=tech_provider, waba_id=waba_id)
        onboarding = Onboarding.objects.filter(waba=waba).first()
        if onboarding is None:
            raise NotFound("This WABA has no onboarding to retry.")
        onboarding_retry(onboarding=onboarding, actor=f"api:{tech_provider.auth_id}")
        waba = selectors.waba_get_for_tech_provider(tech_provider=tech_provider, waba_id=waba_id)
        body = {"message": "Retry accepted; the onboarding resumes from its failed step."}
        return Response({**body, **WabaDetailOutput(waba).data}, status=200)
