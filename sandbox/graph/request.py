"""A Graph call as the handlers see it: method, version, node, edge, merged parameters, caller."""

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, QueryDict
from django.http.request import RawPostDataException

from sandbox.graph.auth import Principal, authenticate, raw_token
from sandbox.graph.errors import GraphError, invalid_parameter


@dataclass
class GraphRequest:
    http: HttpRequest
    method: str
    version: str
    path: str
    node_id: str
    edge: str
    params: dict[str, Any]
    principal: Principal | None = None
    files: dict[str, Any] = field(default_factory=dict)

    def authenticate(self) -> Principal:
        if self.principal is None:
            self.principal = authenticate(raw_token(self.http, self.params))
        return self.principal

    def str_param(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise invalid_parameter(f"The parameter {name} is required")
            return default
        if not isinstance(value, str | int | float):
            raise invalid_parameter(f"Param {name} must be a string")
        return str(value)

    def json_param(self, name: str) -> Any:
        """A structured parameter, sent as JSON or as a JSON string in a form field."""
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise invalid_parameter(f"Param {name} must be a JSON value") from exc
        return value

    def fields(self) -> list[str] | None:
        raw = self.params.get("fields")
        return split_fields(raw) if isinstance(raw, str) and raw else None


def split_fields(raw: str) -> list[str]:
    """Top-level names of a `fields=` list (`a,b{c,d},e` -> a, b, e)."""
    names, depth, current = [], 0, ""
    for char in raw:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.append(current.strip())
    return [name for name in names if name]


def read_params(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """Query string and body merged (the body wins), as Graph reads them; files apart."""
    params: dict[str, Any] = dict(request.GET.items())
    if request.method not in ("POST", "DELETE"):
        return params, {}
    content_type = request.content_type or ""
    try:
        if content_type.startswith("multipart/"):
            if request.method != "POST":
                raise invalid_parameter("multipart bodies are accepted on POST only")
            params.update(request.POST.items())
            return params, dict(request.FILES.items())
        body = request.body
    except (RequestDataTooBig, RawPostDataException) as exc:
        raise invalid_parameter("The request body is too large") from exc
    if not body:
        return params, {}
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise invalid_parameter("The request body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise invalid_parameter("The request body must be a JSON object")
        params.update(data)
    else:
        params.update(QueryDict(body, encoding=request.encoding).items())
    return params, {}


def require(condition: bool, error: GraphError) -> None:
    if not condition:
        raise error
