"""Media downloads: the short-lived URL from `GET /{media_id}`, fetched with an access token."""

import time

from django.http import HttpRequest, HttpResponse, JsonResponse

from sandbox import clock, ids
from sandbox.graph.auth import authenticate, can_see_waba, raw_token
from sandbox.graph.errors import GraphError
from sandbox.models import SandboxMedia
from sandbox.services.calls import call_record
from sandbox.services.faults import fault_take
from sandbox.services.media import media_url_valid


def media_download(request: HttpRequest) -> HttpResponse:
    started, received_at, trace = time.monotonic(), clock.now(), ids.new_fbtrace_id()
    media_id = request.GET.get("mid", "")
    status, response, token_kind, token_hint = _download(request, media_id, trace)
    fault = fault_take(endpoint="media.download", object_id=media_id)
    if fault is not None and fault.kind == "error":
        error = GraphError(
            fault.error_code or 1, fault.error_message or None, http_status=fault.http_status
        )
        status, response = (
            error.http_status,
            JsonResponse(error.envelope(trace), status=error.http_status),
        )
    call_record(
        received_at=received_at,
        method="GET",
        endpoint="media.download",
        path=request.path,
        version="",
        object_id=media_id,
        params={"mid": media_id},
        token_kind=token_kind,
        token_hint=token_hint,
        status_code=status,
        response={"bytes": len(response.content)} if status == 200 else None,
        fbtrace_id=trace,
        fault=fault.describe() if fault else "",
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return response


def _download(
    request: HttpRequest, media_id: str, trace: str
) -> tuple[int, HttpResponse, str, str]:
    valid = media_url_valid(
        media_id=media_id, expires=request.GET.get("ext", ""), signature=request.GET.get("hash", "")
    )
    media = (
        SandboxMedia.objects.select_related("phone_number__waba")
        .filter(media_id=media_id, deleted_at__isnull=True)
        .first()
    )
    if not valid or media is None:
        return 404, HttpResponse("URL signature mismatch or expired", status=404), "", ""
    try:
        principal = authenticate(raw_token(request, {}))
    except GraphError as exc:
        return 401, JsonResponse(exc.envelope(trace), status=401), "", ""
    if not can_see_waba(principal, media.phone_number.waba):
        return 404, HttpResponse("Not found", status=404), principal.kind, principal.hint
    content = bytes(media.content)
    response = HttpResponse(content, content_type=media.mime_type)
    response["Content-Length"] = str(len(content))
    return 200, response, principal.kind, principal.hint
