"""The API's one error shape, `{"api_id": "...", "error": "<message>"}`, for every failure.

DRF's exceptions, our domain errors and anything unexpected all come out in this shape; an
unexpected error is logged with its trace and answered with a generic 500, never the trace.
"""

import logging
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from onboarding.errors import OnboardingError

logger = logging.getLogger(__name__)

AUTH_FAILED = "Authentication failed: check your Auth ID and Auth Token."
SERVER_ERROR = "An unexpected error occurred. Retry after a short delay."
NOT_FOUND = "Resource not found."


def new_api_id() -> str:
    return str(uuid.uuid4())


def request_api_id(request: Any) -> str:
    """The api_id of this request, made on first use and kept on the request."""
    api_id = getattr(request, "api_id", None)
    if api_id is None:
        api_id = new_api_id()
        request.api_id = api_id
    return str(api_id)


def error_body(request: Any, message: str) -> dict[str, str]:
    return {"api_id": request_api_id(request), "error": message}


class Throttled(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _message_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return AUTH_FAILED
    if isinstance(exc, exceptions.MethodNotAllowed):
        return f"Method {exc.args[0] if exc.args else ''} is not allowed on this resource."
    if isinstance(exc, exceptions.ParseError):
        return "The request body could not be parsed."
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "Send the body as application/json or application/x-www-form-urlencoded."
    if isinstance(exc, exceptions.NotFound):
        return NOT_FOUND
    detail = exc.detail
    return detail if isinstance(detail, str) else "The request is not valid."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    if isinstance(exc, Http404):  # Django's own, raised inside a DRF view
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OnboardingError):
        return Response(error_body(request, exc.message), status=exc.status)
    if isinstance(exc, exceptions.APIException):
        response = Response(error_body(request, _message_for(exc)), status=exc.status_code)
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Basic realm="api"'
        if isinstance(exc, Throttled):
            response["Retry-After"] = str(exc.retry_after)
        return response
    logger.exception("unhandled API error", extra={"api_id": request_api_id(request)})
    return Response(error_body(request, SERVER_ERROR), status=500)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for any unknown URL, in the API's shape."""
    return JsonResponse(error_body(request, NOT_FOUND), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(error_body(request, SERVER_ERROR), status=500)
