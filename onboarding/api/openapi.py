"""OpenAPI description of the Tech Provider API, for drf-spectacular (loaded by the app config).

The Basic auth scheme, the one error shape every failure answers with, the statuses each kind of
view really answers (`error_responses`), and a hook that keeps the browser pages' JSON endpoints
and the sandbox out of the public schema. docs: /api/docs/, schema: /api/schema/.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers


class TechProviderBasicScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "onboarding.api.auth.TechProviderBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "auth_id as the user name and auth_token as the password.",
        }


class ErrorOutput(serializers.Serializer[Any]):
    """Every error of the API: the request's id and a message safe to show."""

    api_id = serializers.CharField(help_text="This request's id (quote it to support).")
    error = serializers.CharField(help_text="What went wrong, in plain words.")


# Response headers of the errors that carry one.
ERROR_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        location=OpenApiParameter.HEADER,
        required=True,
        response=[429],
        description="Seconds to wait before the next call.",
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        required=True,
        response=[401],
        description='Always `Basic realm="api"`.',
    ),
]

ERROR_DESCRIPTIONS = {
    400: "A parameter is missing or not valid, or the request conflicts with what exists; "
    "`error` names the problem.",
    401: "Authentication failed: no, malformed or wrong credentials, or an auth_id in the path "
    "that is not the caller's. Every cause answers the same body.",
    403: "This account may not use WhatsApp onboarding (disabled, no Tech Provider permission).",
    404: "No such resource for this account; another Tech Provider's id answers exactly the same.",
    409: "The resource is not in a state that allows this (e.g. retrying an onboarding that did "
    "not fail), or a request with the same Idempotency-Key is still in progress.",
    413: "The request body is over 64 KB (`API_MAX_BODY_BYTES`).",
    415: "The body is not JSON (or a form); send `Content-Type: application/json`.",
    422: "This Idempotency-Key was already used with a different request.",
    429: "Too many calls for this account (rate limit), or too many failed logins for this "
    "auth_id; retry after `Retry-After` seconds.",
    500: "An unexpected error; nothing was changed where the call is idempotent. Retry later.",
}
# What every Tech Provider API view can answer, whatever it does.
COMMON = (401, 403, 413, 429, 500)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error statuses a view answers, each with the error shape: COMMON plus `statuses`."""
    return {
        status: OpenApiResponse(response=ErrorOutput, description=ERROR_DESCRIPTIONS[status])
        for status in sorted({*COMMON, *statuses})
    }


def tech_provider_schema(
    *,
    operation_id: str,
    tag: str,
    summary: str,
    ok: dict[int, Any],
    errors: tuple[int, ...] = (),
    request: Any = None,
    parameters: list[Any] | None = None,
) -> Any:
    """extend_schema for a Tech Provider API method: its answers, the errors, their headers."""
    return extend_schema(
        operation_id=operation_id,
        tags=[tag],
        summary=summary,
        description=summary + ".",
        # JSON is the API's format (the form parsers stay for Plivo-style clients, undocumented).
        request=None if request is None else {"application/json": request},
        parameters=[*(parameters or []), *ERROR_HEADERS],
        # A view that reads a body answers 415 to a body of a type it cannot parse.
        responses={**ok, **error_responses(*errors, *((415,) if request is not None else ()))},
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional, at most 255 characters. The same key with the same request replays "
    "the first answer for 24 hours (with `Idempotent-Replayed: true`); with another request it "
    "answers 422.",
)


class PageQuery(serializers.Serializer[Any]):
    """The paging query parameters of every list (onboarding.api.pagination)."""

    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=100, help_text="Page size (default 20)."
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=10**9, help_text="Items to skip (default 0)."
    )


class PageMeta(serializers.Serializer[Any]):
    """Plivo's list `meta` block."""

    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = serializers.CharField(allow_null=True, help_text="The next page's path, or null.")
    previous = serializers.CharField(allow_null=True, help_text="The previous page's path.")
    total_count = serializers.IntegerField()


class MessageOutput(serializers.Serializer[Any]):
    """Answers that only confirm an action."""

    api_id = serializers.CharField()
    message = serializers.CharField()


def exclude_browser_and_sandbox(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """Preprocessing hook: the schema is the Tech Provider API only (/v1/)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def empty_query_is_absent(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: an optional query parameter sent empty (`?state=`) is ignored, as if
    it was left out (the paging helper and DRF's query parsing both do so); say it."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
