"""Plivo's list shape: `{"meta": {limit, offset, next, previous, total_count}, "objects": []}`."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from rest_framework.request import Request

from onboarding.errors import InvalidRequest

DEFAULT_LIMIT = 20


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer between {low} and {high}.")
    return value


def _page_uri(request: Request, limit: int, offset: int) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
    params.update(limit=str(limit), offset=str(offset))
    return f"{request.path}?{urlencode(params)}"


def paginate(request: Request, queryset: QuerySet[Any]) -> tuple[list[Any], dict[str, Any]]:
    """One page of the queryset and the `meta` block describing it."""
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, settings.API_PAGE_LIMIT_MAX)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    total = queryset.count()
    items = list(queryset[offset : offset + limit])
    has_next = offset + limit < total
    meta = {
        "limit": limit,
        "offset": offset,
        "next": _page_uri(request, limit, offset + limit) if has_next else None,
        "previous": _page_uri(request, limit, max(0, offset - limit)) if offset > 0 else None,
        "total_count": total,
    }
    return items, meta
