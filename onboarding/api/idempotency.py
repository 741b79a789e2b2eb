"""Idempotency-Key support: the same key and body replay the first response for 24 hours.

The key row is inserted (and committed) before the handler runs, so a concurrent duplicate finds
it and gets 409; the handler's writes and the stored response then commit together, so a crash
can never leave the work done without its response, or the response without its work. 5xx
answers are not stored: the client may retry them with the same key.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from onboarding.api.auth import tech_provider_of
from onboarding.api.errors import error_body
from onboarding.models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
KEY_MAX = 255
# An in-flight row older than this is taken to be from a crashed request and reclaimed.
_ABANDONED_AFTER = timedelta(seconds=90)

Handler = Callable[..., Response]


def _request_hash(request: Request) -> str:
    body = request.data.dict() if hasattr(request.data, "dict") else request.data
    canonical = json.dumps([request.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(row: IdempotencyKey, request_hash: str, request: Request) -> Response:
    if row.request_hash != request_hash:
        message = "This Idempotency-Key was already used with a different request."
        return Response(error_body(request, message), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if row.response_status is None:
        message = "A request with this Idempotency-Key is still in progress; retry shortly."
        return Response(error_body(request, message), status=status.HTTP_409_CONFLICT)
    response = Response(row.response_body, status=row.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(request: Request, key: str, request_hash: str) -> IdempotencyKey | None:
    """Insert the in-flight row, or return None when another request holds the key."""
    tech_provider = tech_provider_of(request)
    now = timezone.now()
    ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)
    IdempotencyKey.objects.filter(tech_provider=tech_provider, key=key).filter(
        created_at__lt=now - ttl
    ).delete()
    IdempotencyKey.objects.filter(
        tech_provider=tech_provider,
        key=key,
        response_status__isnull=True,
        created_at__lt=now - _ABANDONED_AFTER,
    ).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                tech_provider=tech_provider,
                key=key,
                method=request.method or "",
                path=request.path[:512],
                request_hash=request_hash,
            )
    except IntegrityError:
        return None


def _run(row: IdempotencyKey, handler: Callable[[], Response]) -> Response:
    try:
        with transaction.atomic():
            response = handler()
            if response.status_code >= 500:
                raise _DoNotStore(response)
            row.response_status = response.status_code
            row.response_body = response.data
            row.save(update_fields=["response_status", "response_body"])
            return response
    except _DoNotStore as skip:
        row.delete()
        return skip.response
    except BaseException:
        row.delete()
        raise


class _DoNotStore(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def idempotent(method: Handler) -> Handler:
    """Decorate a POST handler of a TechProviderApi."""

    @wraps(method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.META.get(HEADER, "").strip()
        if not key:
            return method(view, request, *args, **kwargs)
        if len(key) > KEY_MAX:
            message = f"Idempotency-Key must be at most {KEY_MAX} characters."
            return Response(error_body(request, message), status=status.HTTP_400_BAD_REQUEST)
        request_hash = _request_hash(request)
        row = _claim(request, key, request_hash)
        if row is None:
            existing = IdempotencyKey.objects.get(tech_provider=tech_provider_of(request), key=key)
            return _replay(existing, request_hash, request)
        return _run(row, lambda: method(view, request, *args, **kwargs))

    return wrapper
