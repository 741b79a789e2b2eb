"""Request middleware of the whole site: request ids with an access log line, and body-size caps.

RequestIdMiddleware goes first so that every later log line of the request carries the id.
BodySizeLimitMiddleware refuses oversized bodies before any view, parser or CSRF check reads them.
"""

import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import IO

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

from config.logging import REDACTED, is_secret_key, scope_close, scope_open, scrub
from onboarding.api.errors import error_body

access_logger = logging.getLogger("config.request")

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is kept only if it is short and plain, so it cannot forge log fields or lines.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_READ_CHUNK = 64 * 1024

Handler = Callable[[HttpRequest], HttpResponse]


def request_id_from(request: HttpRequest) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    offered = request.META.get("HTTP_X_REQUEST_ID", "")
    return offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds a request id for the request's log lines, echoes it, and logs one access line."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        token = scope_open(request_id=request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            _log_access(request, response, started)
            return response
        finally:
            scope_close(token)

    def process_view(
        self, request: HttpRequest, view: object, args: object, kwargs: dict[str, object]
    ) -> None:
        """Once the URL is resolved: keep secret path parts (a status token) out of every line."""
        scrub(*(str(v) for name, v in kwargs.items() if v and is_secret_key(name)))


def loggable_path(request: HttpRequest) -> str:
    """The path without its query string (hub.verify_token, code) or secret path parts."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name, value in (match.kwargs if match else {}).items():
        if value and is_secret_key(name):  # e.g. the Connect page's <status_token>
            path = path.replace(str(value), REDACTED)
    return path


def _log_access(request: HttpRequest, response: HttpResponse, started: float) -> None:
    duration_ms = round((time.monotonic() - started) * 1000)
    path = loggable_path(request)
    access_logger.info(
        "%s %s %s %dms",
        request.method,
        path,
        response.status_code,
        duration_ms,
        extra={
            "http_method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )


# ---------------------------------------------------------------- body caps


def body_cap_for(path: str) -> int | None:
    """The largest body accepted under this path, or None when Django's own limits apply."""
    if path.startswith("/v1/"):
        return int(settings.API_MAX_BODY_BYTES)
    if path.startswith("/webhooks/"):
        return int(settings.META_WEBHOOK_MAX_BYTES)
    return None


def _too_large(request: HttpRequest, cap: int) -> HttpResponse:
    message = f"Request bodies over {cap} bytes are refused."
    if request.path.startswith("/v1/"):
        return JsonResponse(error_body(request, message), status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else None


def _unsized_body(request: HttpRequest) -> IO[bytes] | None:
    """The raw stream of a body sent without Content-Length (chunked), if the server hands it on.

    Django's WSGIRequest reads exactly Content-Length bytes, so it sees a chunked body (gunicorn
    decodes those and sets wsgi.input_terminated) as empty; ASGI servers hand on the whole body.
    """
    if isinstance(request, WSGIRequest):
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        terminated = bool(request.environ.get("wsgi.input_terminated"))
        return request.environ["wsgi.input"] if chunked and terminated else None
    return getattr(request, "_stream", None)


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(_READ_CHUNK, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


class BodySizeLimitMiddleware:
    """413 for a body over its path's cap: API 64 KB, Meta ingest 3 MB (see body_cap_for).

    A declared Content-Length is checked before anything is read (the request stream never
    yields more than it declares). A body without one (chunked) is read here, at most cap + 1
    bytes, and then handed to the view as if it had been sent with its length.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cap = body_cap_for(request.path)
        if cap is None:
            return self.get_response(request)
        declared = _declared_length(request)
        if declared is not None and declared > cap:
            return _too_large(request, cap)
        stream = _unsized_body(request) if declared is None else None
        if stream is not None:
            body = _read_at_most(stream, cap + 1)
            if len(body) > cap:
                return _too_large(request, cap)
            # Django's own trick in HttpRequest.body: the stream is replaced by the bytes read.
            request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
            request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)
