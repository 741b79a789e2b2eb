"""Plumbing of the control API: JSON in and out, errors as {"error": "..."}, typed fields."""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.services.bootstrap import sandbox_bootstrap

View = Callable[..., JsonResponse]


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def control(*methods: str) -> Callable[[Callable[..., Any]], View]:
    """A control endpoint: CSRF-exempt, JSON body parsed into `data`, errors answered as JSON.
    The wrapped function returns a body, or (status, body)."""

    def decorate(func: Callable[..., Any]) -> View:
        @csrf_exempt
        @wraps(func)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                return JsonResponse({"error": f"use {' or '.join(methods)}"}, status=405)
            try:
                sandbox_bootstrap()
                result = func(request, _body(request), *args, **kwargs)
            except ControlError as exc:
                return JsonResponse({"error": exc.message}, status=exc.status)
            except ObjectDoesNotExist as exc:
                return JsonResponse({"error": str(exc) or "not found"}, status=404)
            except ValidationError as exc:
                return JsonResponse({"error": "; ".join(exc.messages)}, status=400)
            except ValueError as exc:
                return JsonResponse({"error": str(exc)}, status=400)
            status, body = result if isinstance(result, tuple) else (200, result)
            return JsonResponse(body, status=status, safe=False)

        return view

    return decorate


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.method in ("GET", "HEAD") or not request.body:
        return dict(request.GET.items())
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise ControlError("the body must be JSON") from exc
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    return data


def text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ControlError(f"{key} must be a string")
    return str(value)


def integer(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ControlError(f"{key} must be a non-negative integer")
    return int(value)


def flag(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0, None):
        return False
    raise ControlError(f"{key} must be true or false")
