"""The OpenAPI schema (/api/schema/) is complete and clean: drf-spectacular validates it with
warnings as errors, it holds every Tech Provider API view found in the URLconf and nothing else,
and every operation documents the error shape for the statuses every view can answer."""

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from onboarding.api.openapi import COMMON
from onboarding.apis import TechProviderApi

METHODS = ("get", "post", "put", "patch", "delete")


def tech_provider_routes() -> Iterator[tuple[str, str]]:
    """(OpenAPI path, method) of every TechProviderApi method in the URLconf."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    for route, pattern in walk(get_resolver().url_patterns, ""):
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None or not issubclass(view_class, TechProviderApi):
            continue
        path = "/" + route.replace("<str:", "{").replace("<", "{").replace(">", "}")
        for method in METHODS:
            if hasattr(view_class, method):
                yield path, method


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return dict(yaml.safe_load(response.content))


def test_spectacular_validates_the_schema_with_warnings_as_errors(tmp_path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.stat().st_size > 1000


def test_every_tech_provider_api_method_is_documented_and_nothing_else(schema) -> None:
    documented = {(path, method) for path, item in schema["paths"].items() for method in item}
    routes = set(tech_provider_routes())
    assert len(routes) >= 10
    assert routes == documented
    assert all(path.startswith("/v1/Account/{auth_id}/") for path, _ in documented)


def test_every_operation_documents_the_errors_every_view_answers(schema) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {str(s) for s in COMMON} <= set(responses), (method, path)
            for status, response in responses.items():
                if int(status) >= 400:  # a success may be a file (inbound media), not JSON
                    body = response["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/ErrorOutput"}, (path, status)
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
            assert "WWW-Authenticate" in responses["401"]["headers"]
            assert operation["security"] == [{"basicAuth": []}]
            if "{" in path.removeprefix("/v1/Account/{auth_id}/"):
                assert "404" in responses, (method, path)
    assert schema["components"]["schemas"]["ErrorOutput"]["required"] == ["api_id", "error"]


def test_the_docs_page_is_served_with_our_own_assets(client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assert "cdn" not in page.lower()
