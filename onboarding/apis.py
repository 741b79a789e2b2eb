"""The EmbeddedSignup REST API: one view per resource, each a thin layer over services/selectors."""

from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding import selectors
from onboarding.api.auth import TechProviderBasicAuthentication, tech_provider_of
from onboarding.api.errors import NOT_FOUND, request_api_id
from onboarding.api.idempotency import idempotent
from onboarding.api.openapi import IDEMPOTENCY_KEY, PageMeta, PageQuery, tech_provider_schema
from onboarding.api.pagination import paginate
from onboarding.api.throttling import TechProviderRateThrottle
from onboarding.errors import InvalidRequest, NotFound
from onboarding.models import Onboarding, WhatsAppBusinessAccount
from onboarding.serializers import WabaDetailOutput, WabaOutput, waba_resource_uri
from onboarding.services.pipeline import onboarding_retry
from onboarding.services.signup import embedded_signup_submit
from onboarding.services.tech_providers import tech_provider_assert_can_onboard
from onboarding.signup_input import EmbeddedSignupInput, signup_input_validate

TAG = "EmbeddedSignup"


class WhatsAppAccess(BasePermission):
    """403 with the exact message when the account may not use WhatsApp onboarding."""

    def has_permission(self, request: Request, view: Any) -> bool:
        tech_provider_assert_can_onboard(tech_provider_of(request))
        return True


def refuse_nul(query: QueryDict, path_values: dict[str, Any]) -> None:
    """PostgreSQL cannot hold NUL in text: an id with one is unknown, a filter with one invalid.

    Without this, such a value reached a query and answered 500 (found by schemathesis).
    """
    if any("\x00" in str(value) for value in path_values.values()):
        raise NotFound(NOT_FOUND)
    for name, values in query.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            raise InvalidRequest("Query parameters may not contain NUL characters.")


class TechProviderApi(APIView):
    """Base of every /v1/Account/{auth_id}/ view: Basic auth, and an api_id in every body."""

    authentication_classes = [TechProviderBasicAuthentication]
    permission_classes = [WhatsAppAccess]
    throttle_classes = [TechProviderRateThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and throttling come first
        refuse_nul(request.query_params, kwargs)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if isinstance(response.data, dict) and "api_id" not in response.data:
            response.data = {"api_id": request_api_id(request), **response.data}
        return super().finalize_response(request, response, *args, **kwargs)


class EmbeddedSignupAccepted(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField()
    waba_id = serializers.CharField()
    business_id = serializers.CharField()
    phone_number_id = serializers.CharField(allow_null=True)
    reference = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=WhatsAppBusinessAccount.Status.choices)
    onboarding_status = serializers.ChoiceField(choices=Onboarding.Status.choices)
    resource_uri = serializers.CharField()
    status_url = serializers.URLField()


class WabaList(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    meta = PageMeta()
    objects = WabaOutput(many=True)


class WabaListQuery(serializers.Serializer[Any]):
    status = serializers.CharField(
        required=False, allow_blank=True, help_text="Only WABAs in this status."
    )
    reference = serializers.CharField(
        required=False, allow_blank=True, help_text="Only this reference."
    )


class RetryAccepted(WabaDetailOutput):
    api_id = serializers.CharField()
    message = serializers.CharField()

    class Meta(WabaDetailOutput.Meta):
        fields = ["api_id", "message", *WabaDetailOutput.Meta.fields]


class EmbeddedSignupApi(TechProviderApi):
    """POST: accept a finished Embedded Signup. GET: list this Tech Provider's WABAs."""

    @tech_provider_schema(
        operation_id="embedded_signup_create",
        tag=TAG,
        summary="Accept a finished Embedded Signup and start onboarding the WABA",
        request=EmbeddedSignupInput,
        parameters=[IDEMPOTENCY_KEY],
        ok={200: EmbeddedSignupAccepted},
        errors=(400, 409, 422),
    )
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

    @tech_provider_schema(
        operation_id="embedded_signup_list",
        tag=TAG,
        summary="List this account's WABAs, newest first",
        parameters=[PageQuery, WabaListQuery],
        ok={200: WabaList},
        errors=(400,),
    )
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

    @tech_provider_schema(
        operation_id="embedded_signup_retrieve",
        tag=TAG,
        summary="One WABA: its numbers, every onboarding step, the newest audit rows",
        ok={200: WabaDetailOutput},
        errors=(400, 404),
    )
    def get(self, request: Request, auth_id: str, waba_id: str) -> Response:
        waba = selectors.waba_get_for_tech_provider(
            tech_provider=tech_provider_of(request), waba_id=waba_id
        )
        return Response(WabaDetailOutput(waba).data)


class EmbeddedSignupRetryApi(TechProviderApi):
    """POST: resume a failed onboarding from its failed step; 409 unless it failed."""

    @tech_provider_schema(
        operation_id="embedded_signup_retry",
        tag=TAG,
        summary="Resume a failed onboarding from its failed step",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        ok={200: RetryAccepted},
        errors=(400, 404, 409, 415, 422),
    )
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
