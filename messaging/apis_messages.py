"""The message, template and media APIs under /v1/Account/{auth_id}/ (issue 7), Plivo-compatible:
`Message/` (send, list), `Message/{message_uuid}/`, `WhatsApp/Template/{waba_id}/` (list, create,
sync) and `.../{template_id}/` (get, edit, delete), `WhatsApp/Media/{media_id}/` (inbound media we
stored). One view per resource; each method checks input, calls one service or selector, and
renders the answer. Request bodies are parsed by messaging.message_input / template_input, which
speak Plivo's shapes; the serializers below describe them for the OpenAPI schema.
"""

from typing import Any

from django.http import FileResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from messaging.message_input import SendRequest, number_digits, send_request_parse
from messaging.models import InboundMedia, Message, MessageTemplate
from messaging.services import templates as template_services
from messaging.services.media import media_storage
from messaging.services.messages import Accepted, message_send_accept
from messaging.template_input import STATUSES, template_edit_parse, template_spec_parse
from onboarding import selectors as onboarding_selectors
from onboarding.api.auth import tech_provider_of
from onboarding.api.errors import error_body
from onboarding.api.idempotency import idempotent
from onboarding.api.openapi import (
    IDEMPOTENCY_KEY,
    ErrorOutput,
    PageMeta,
    PageQuery,
    tech_provider_schema,
)
from onboarding.api.pagination import paginate
from onboarding.apis import TechProviderApi
from onboarding.errors import InvalidRequest, NotFound
from onboarding.models import TechProvider, WhatsAppBusinessAccount

MESSAGES_TAG = "Messages"
TEMPLATES_TAG = "Templates"
MEDIA_TAG = "Media"
QUEUED = "message(s) queued"
TEMPLATE_PATH = "WhatsApp/Template/"
META_UNAVAILABLE = OpenApiResponse(
    response=ErrorOutput,
    description="Meta did not answer, or is busy; nothing was changed here. Retry shortly.",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def body_object(data: Any) -> dict[str, Any]:
    """A parsed request body as an object (a JSON array or scalar is refused)."""
    if not isinstance(data, dict) and not hasattr(data, "items"):
        raise InvalidRequest("The request body must be a JSON object.")
    return dict(data.items())


def _body(request: Request) -> dict[str, Any]:
    return body_object(request.data)


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    if serializer.is_valid():
        return dict(serializer.validated_data)
    name, problems = next(iter(serializer.errors.items()))
    problem = problems[0] if isinstance(problems, list) and problems else problems
    raise InvalidRequest(f"{name}: {problem}")


# ---------------------------------------------------------------- messages


def message_output(message: Message, auth_id: str) -> dict[str, Any]:
    """A message as Plivo's Message API shows one, plus WhatsApp's and our own fields."""
    failed = message.state in (Message.State.FAILED, Message.State.UNDELIVERED)
    return {
        "message_uuid": str(message.uuid),
        "message_type": "whatsapp",
        "message_direction": "outbound",
        "message_state": message.state,
        "from_number": message.src,
        "to_number": message.dst,
        "message_time": _iso(message.created_at),
        "content_type": message.kind,
        "template_name": message.template_name or None,
        "template_language": message.template_language or None,
        "fallback_used": message.fallback_used,
        "error_code": str(message.error_code) if failed and message.error_code else None,
        "error_message": message.error_message or None if failed else None,
        "whatsapp_message_id": message.wamid,
        "conversation_origin": message.pricing_category or None,
        "sent_time": _iso(message.sent_at),
        "delivered_time": _iso(message.delivered_at),
        "read_time": _iso(message.read_at),
        "failed_time": _iso(message.failed_at),
        "resource_uri": f"/v1/Account/{auth_id}/Message/{message.uuid}/",
    }


class ParameterInput(serializers.Serializer[Any]):
    type = serializers.CharField(
        help_text="text, currency, date_time, image, video, document, "
        "payload, location, coupon_code"
    )
    text = serializers.CharField(required=False, allow_null=True)
    media = serializers.CharField(required=False, allow_null=True, help_text="A URL or media id.")
    payload = serializers.CharField(required=False, allow_null=True)
    currency = serializers.JSONField(required=False, allow_null=True)
    date_time = serializers.JSONField(required=False, allow_null=True)
    location = serializers.JSONField(required=False, allow_null=True)
    parameter_name = serializers.CharField(required=False, allow_null=True)


class ComponentInput(serializers.Serializer[Any]):
    type = serializers.CharField(help_text="header, body or button")
    sub_type = serializers.CharField(required=False, allow_null=True)
    index = serializers.CharField(required=False, allow_null=True)
    parameters = ParameterInput(many=True, required=False)


class TemplateRefInput(serializers.Serializer[Any]):
    name = serializers.CharField()
    language = serializers.CharField(help_text="e.g. en_US")
    components = ComponentInput(many=True, required=False)


class MessageSendInput(serializers.Serializer[Any]):
    """Plivo's `messages.create` body for WhatsApp; null means absent."""

    type = serializers.ChoiceField(choices=["whatsapp"])
    src = serializers.CharField(help_text="A WhatsApp number of one of your WABAs (E.164).")
    dst = serializers.CharField(help_text="E.164; several joined by '<'.")
    text = serializers.CharField(required=False, allow_null=True, max_length=4096)
    template = TemplateRefInput(required=False, allow_null=True)
    fallback_template = TemplateRefInput(
        required=False,
        allow_null=True,
        help_text="An approved template sent instead of free-form content when the 24-hour "
        "window is closed.",
    )
    interactive = serializers.JSONField(
        required=False, allow_null=True, help_text="button, list or cta_url"
    )
    location = serializers.JSONField(required=False, allow_null=True)
    media_urls = serializers.ListField(
        child=serializers.URLField(), required=False, allow_null=True, max_length=1
    )
    url = serializers.URLField(required=False, allow_null=True, help_text="Status callbacks.")
    method = serializers.ChoiceField(choices=["GET", "POST"], required=False, allow_null=True)
    message_expiry = serializers.IntegerField(
        required=False, allow_null=True, min_value=5, max_value=86400
    )
    log = serializers.CharField(required=False, allow_null=True)
    trackable = serializers.BooleanField(required=False, allow_null=True)


class MessageQueuedOutput(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField(help_text=f'Always "{QUEUED}".')
    message_uuid = serializers.ListField(child=serializers.UUIDField())
    fallback_template_used = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        help_text="With fallback_template: the messages that carry it (their window was closed).",
    )


class MessageOutput(serializers.Serializer[Any]):
    message_uuid = serializers.UUIDField()
    message_type = serializers.CharField()
    message_direction = serializers.CharField()
    message_state = serializers.ChoiceField(choices=Message.State.choices)
    from_number = serializers.CharField()
    to_number = serializers.CharField()
    message_time = serializers.DateTimeField()
    content_type = serializers.CharField()
    template_name = serializers.CharField(allow_null=True)
    template_language = serializers.CharField(allow_null=True)
    fallback_used = serializers.BooleanField()
    error_code = serializers.CharField(allow_null=True, help_text="Meta's code, when failed.")
    error_message = serializers.CharField(allow_null=True)
    whatsapp_message_id = serializers.CharField(allow_null=True, help_text="Meta's wamid.")
    conversation_origin = serializers.CharField(allow_null=True)
    sent_time = serializers.DateTimeField(allow_null=True)
    delivered_time = serializers.DateTimeField(allow_null=True)
    read_time = serializers.DateTimeField(allow_null=True)
    failed_time = serializers.DateTimeField(allow_null=True)
    resource_uri = serializers.CharField()


class MessageDetailOutput(MessageOutput):
    api_id = serializers.CharField()


class MessageList(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    meta = PageMeta()
    objects = MessageOutput(many=True)


class MessageQuery(PageQuery):
    message_state = serializers.ChoiceField(choices=Message.State.choices, required=False)
    message_type = serializers.CharField(required=False)
    message_direction = serializers.ChoiceField(choices=["outbound", "inbound"], required=False)
    from_number = serializers.CharField(required=False, max_length=32)
    to_number = serializers.CharField(required=False, max_length=32)
    error_code = serializers.IntegerField(required=False)
    message_time__gt = serializers.DateTimeField(required=False)
    message_time__gte = serializers.DateTimeField(required=False)
    message_time__lt = serializers.DateTimeField(required=False)
    message_time__lte = serializers.DateTimeField(required=False)


def message_queued_output(send: SendRequest, accepted: Accepted) -> dict[str, Any]:
    """The body of a send's 202, without the api_id."""
    body: dict[str, Any] = {"message": QUEUED, "message_uuid": accepted.message_uuids}
    if send.fallback is not None:
        body["fallback_template_used"] = accepted.fallback_uuids
    return body


def _message_filters(tech_provider: TechProvider, query: dict[str, Any]) -> dict[str, Any]:
    filters: dict[str, Any] = {"tech_provider": tech_provider, "state": query.get("message_state")}
    for name, key in (("from_number", "src"), ("to_number", "dst")):
        if query.get(name):
            filters[key] = number_digits(query[name], name)
    for name, key, inclusive in (
        ("message_time__gt", "since", False),
        ("message_time__gte", "since", True),
        ("message_time__lt", "until", False),
        ("message_time__lte", "until", True),
    ):
        if query.get(name):
            filters[key] = query[name]
            filters[f"{key}_inclusive"] = inclusive
    if query.get("error_code") is not None:
        filters["error_code"] = query["error_code"]
    return filters


class MessageApi(TechProviderApi):
    """POST: send a WhatsApp message (Plivo's messages.create). GET: list sent messages.

    Routed through messaging.apis_send.lean_send, which answers the common POST itself.
    """

    @tech_provider_schema(
        operation_id="message_send",
        tag=MESSAGES_TAG,
        summary="Send a WhatsApp message to one or more recipients",
        request=MessageSendInput,
        parameters=[IDEMPOTENCY_KEY],
        ok={202: MessageQueuedOutput},
        errors=(400, 409, 422),
    )
    @idempotent
    def post(self, request: Request, auth_id: str) -> Response:
        # A plain JSON send usually never gets here: messaging.apis_send answers it first.
        send = send_request_parse(_body(request))
        accepted = message_send_accept(tech_provider=tech_provider_of(request), request=send)
        return Response(message_queued_output(send, accepted), status=202)

    @tech_provider_schema(
        operation_id="message_list",
        tag=MESSAGES_TAG,
        summary="List sent messages, newest first (filters by state, number, time)",
        parameters=[MessageQuery],
        ok={200: MessageList},
        errors=(400,),
    )
    def get(self, request: Request, auth_id: str) -> Response:
        query = _valid(MessageQuery(data=request.query_params))
        tech_provider = tech_provider_of(request)
        messages = selectors.message_list_for_tech_provider(
            **_message_filters(tech_provider, query)
        )
        if (
            query.get("message_direction") == "inbound"
            or query.get("message_type", "whatsapp") != "whatsapp"
        ):
            messages = messages.none()  # we keep outbound WhatsApp messages only
        items, meta = paginate(request, messages)
        return Response({"meta": meta, "objects": [message_output(m, auth_id) for m in items]})


class MessageDetailApi(TechProviderApi):
    """GET one message by its uuid."""

    @tech_provider_schema(
        operation_id="message_retrieve",
        tag=MESSAGES_TAG,
        summary="One sent message and its state",
        ok={200: MessageDetailOutput},
        errors=(404,),
    )
    def get(self, request: Request, auth_id: str, message_uuid: str) -> Response:
        message = selectors.message_get_for_tech_provider(
            tech_provider=tech_provider_of(request), message_uuid=message_uuid
        )
        return Response(message_output(message, auth_id))


# ---------------------------------------------------------------- templates


def template_output(template: MessageTemplate, auth_id: str) -> dict[str, Any]:
    waba_id = template.waba.waba_id
    return {
        "template_id": template.template_id,
        "waba_id": waba_id,
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "status": template.status,
        "rejection_reason": template.status_reason or None,
        "quality_score": {"score": template.quality_score} if template.quality_score else None,
        "parameter_format": template.parameter_format or None,
        "components": template.components,
        "created_at": _iso(template.created_at),
        "updated_at": _iso(template.updated_at),
        "resource_uri": f"/v1/Account/{auth_id}/{TEMPLATE_PATH}{waba_id}/{template.template_id}/",
    }


@extend_schema_serializer(component_name="TemplateCreateInput")
class TemplateInput(serializers.Serializer[Any]):
    name = serializers.RegexField(
        r"^[a-z0-9_]{1,512}$", help_text="snake_case, unique per language."
    )
    language = serializers.CharField(help_text="e.g. en or en_US")
    category = serializers.ChoiceField(choices=["MARKETING", "UTILITY", "AUTHENTICATION"])
    components = serializers.ListField(
        child=serializers.JSONField(),
        help_text="Meta's components: exactly one BODY; HEADER, FOOTER, BUTTONS optional.",
    )
    parameter_format = serializers.ChoiceField(choices=["POSITIONAL", "NAMED"], required=False)


class TemplateEditInput(serializers.Serializer[Any]):
    components = serializers.ListField(child=serializers.JSONField(), required=False)
    category = serializers.ChoiceField(
        choices=["MARKETING", "UTILITY", "AUTHENTICATION"], required=False
    )


class QualityScoreOutput(serializers.Serializer[Any]):
    score = serializers.CharField(help_text="GREEN, YELLOW, RED or UNKNOWN")


class TemplateOutput(serializers.Serializer[Any]):
    template_id = serializers.CharField(help_text="Meta's id.")
    waba_id = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField(help_text=", ".join(STATUSES))
    rejection_reason = serializers.CharField(allow_null=True)
    quality_score = QualityScoreOutput(allow_null=True)
    parameter_format = serializers.CharField(allow_null=True)
    components = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resource_uri = serializers.CharField()


class TemplateDetailOutput(TemplateOutput):
    api_id = serializers.CharField()


class TemplateChangedOutput(TemplateDetailOutput):
    message = serializers.CharField()


class TemplateList(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    meta = PageMeta()
    objects = TemplateOutput(many=True)


class TemplateQuery(PageQuery):
    status = serializers.ChoiceField(choices=STATUSES, required=False)
    name = serializers.CharField(required=False, max_length=512)
    category = serializers.ChoiceField(
        choices=["MARKETING", "UTILITY", "AUTHENTICATION"], required=False
    )
    language = serializers.CharField(required=False, max_length=16)


class DeletedOutput(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField()
    template_id = serializers.CharField()


class SyncedOutput(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField()
    count = serializers.IntegerField()


def _waba(request: Request, waba_id: str) -> WhatsAppBusinessAccount:
    return onboarding_selectors.waba_get_for_tech_provider(
        tech_provider=tech_provider_of(request), waba_id=waba_id
    )


class TemplateListApi(TechProviderApi):
    """GET: a WABA's templates. POST: submit a new template for Meta's review."""

    @tech_provider_schema(
        operation_id="template_list",
        tag=TEMPLATES_TAG,
        summary="A WABA's message templates",
        parameters=[TemplateQuery],
        ok={200: TemplateList},
        errors=(400, 404),
    )
    def get(self, request: Request, auth_id: str, waba_id: str) -> Response:
        query = _valid(TemplateQuery(data=request.query_params))
        query.pop("limit", None), query.pop("offset", None)
        templates = selectors.template_list_for_waba(waba=_waba(request, waba_id), **query)
        items, meta = paginate(request, templates.select_related("waba"))
        return Response({"meta": meta, "objects": [template_output(t, auth_id) for t in items]})

    @tech_provider_schema(
        operation_id="template_create",
        tag=TEMPLATES_TAG,
        summary="Create a template; it is PENDING until Meta's review",
        request=TemplateInput,
        parameters=[IDEMPOTENCY_KEY],
        ok={201: TemplateChangedOutput, 502: META_UNAVAILABLE},
        errors=(400, 404, 409, 422),
    )
    @idempotent
    def post(self, request: Request, auth_id: str, waba_id: str) -> Response:
        waba = _waba(request, waba_id)
        template = template_services.template_create(
            waba=waba, spec=template_spec_parse(_body(request))
        )
        body = {"message": "template submitted for review", **template_output(template, auth_id)}
        return Response(body, status=201)


class TemplateSyncApi(TechProviderApi):
    """POST: read the WABA's templates from Meta now (templates made in WhatsApp Manager)."""

    @tech_provider_schema(
        operation_id="template_sync",
        tag=TEMPLATES_TAG,
        summary="Read the WABA's templates from Meta now",
        ok={200: SyncedOutput, 502: META_UNAVAILABLE},
        errors=(400, 404),
    )
    def post(self, request: Request, auth_id: str, waba_id: str) -> Response:
        count = template_services.templates_sync(waba=_waba(request, waba_id))
        return Response({"message": f"{count} templates read from Meta", "count": count})


class TemplateDetailApi(TechProviderApi):
    """GET one template; POST an edit (components and/or category); DELETE it."""

    def _template(self, request: Request, waba_id: str, template_id: str) -> MessageTemplate:
        return selectors.template_get_for_waba(
            waba=_waba(request, waba_id), template_id=template_id
        )

    @tech_provider_schema(
        operation_id="template_retrieve",
        tag=TEMPLATES_TAG,
        summary="One template with its status",
        ok={200: TemplateDetailOutput},
        errors=(404,),
    )
    def get(self, request: Request, auth_id: str, waba_id: str, template_id: str) -> Response:
        return Response(template_output(self._template(request, waba_id, template_id), auth_id))

    @tech_provider_schema(
        operation_id="template_update",
        tag=TEMPLATES_TAG,
        summary="Edit a template; Meta reviews it again (PENDING)",
        request=TemplateEditInput,
        ok={200: TemplateChangedOutput, 502: META_UNAVAILABLE},
        errors=(400, 404),
    )
    def post(self, request: Request, auth_id: str, waba_id: str, template_id: str) -> Response:
        template = self._template(request, waba_id, template_id)
        edit = template_edit_parse(
            _body(request), category=template.category, parameter_format=template.parameter_format
        )
        template = template_services.template_edit(template=template, edit=edit)
        body = {"message": "template submitted for review", **template_output(template, auth_id)}
        return Response(body)

    @tech_provider_schema(
        operation_id="template_delete",
        tag=TEMPLATES_TAG,
        summary="Delete a template (this language)",
        ok={200: DeletedOutput, 502: META_UNAVAILABLE},
        errors=(400, 404),
    )
    def delete(self, request: Request, auth_id: str, waba_id: str, template_id: str) -> Response:
        template_services.template_delete(template=self._template(request, waba_id, template_id))
        return Response({"message": "template deleted", "template_id": template_id})


# ---------------------------------------------------------------- inbound media


class MediaApi(TechProviderApi):
    """GET an inbound media object we stored: its bytes, with its content type."""

    @tech_provider_schema(
        operation_id="media_retrieve",
        tag=MEDIA_TAG,
        summary="The bytes of a media object a customer sent (the URL in the event)",
        ok={
            # a file, not JSON: spectacular takes (status, media type) keys
            (200, "*/*"): OpenApiResponse(  # type: ignore[dict-item]
                response=OpenApiTypes.BINARY,
                description="The file as the customer sent it, with its own Content-Type.",
            ),
            503: OpenApiResponse(
                response=ErrorOutput,
                description="Still being fetched from Meta; retry after Retry-After seconds.",
            ),
        },
        errors=(404,),
        parameters=[
            OpenApiParameter("Retry-After", int, location=OpenApiParameter.HEADER, response=[503])
        ],
    )
    def get(self, request: Request, auth_id: str, media_id: str) -> HttpResponseBase:
        media = selectors.inbound_media_get_for_tech_provider(
            tech_provider=tech_provider_of(request), media_id=media_id
        )
        if media.state == InboundMedia.State.PENDING:
            message = "The media is still being fetched from Meta; retry in a moment."
            return Response(error_body(request, message), status=503, headers={"Retry-After": "2"})
        if media.state == InboundMedia.State.FAILED:
            raise NotFound(f"The media could not be fetched from Meta: {media.last_error}")
        response = FileResponse(
            media_storage().open(media.storage_name, "rb"),
            content_type=media.mime_type or "application/octet-stream",
        )
        response["Cache-Control"] = "private, max-age=86400"
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response):
            return super().finalize_response(request, response, *args, **kwargs)
        return APIView.finalize_response(self, request, response, *args, **kwargs)
