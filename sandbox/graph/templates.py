"""Handlers for message templates: list, create, delete on a WABA; get and edit by id."""

import base64
from typing import Any
from urllib.parse import urlencode

from sandbox.graph.access import waba_for
from sandbox.graph.errors import invalid_parameter
from sandbox.graph.nodes import render
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxTemplate, SandboxWaba
from sandbox.services import templates

TEMPLATE_DEFAULT_FIELDS = [
    "name",
    "parameter_format",
    "components",
    "language",
    "status",
    "category",
    "id",
]
MAX_LIMIT = 100


def _fields(template: SandboxTemplate) -> dict[str, Any]:
    return {
        "id": lambda: template.template_id,
        "name": lambda: template.name,
        "language": lambda: template.language,
        "status": lambda: template.status,
        "category": lambda: template.category,
        "components": lambda: template.components,
        "parameter_format": lambda: template.parameter_format,
        "rejected_reason": lambda: template.rejected_reason,
        "quality_score": lambda: {"score": template.quality_score},
        "previous_category": lambda: None,
    }


def _cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError as exc:
        raise invalid_parameter("Param after is not a valid cursor") from exc


def _limit(req: GraphRequest) -> int:
    raw = req.str_param("limit", default="25")
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter("Param limit must be a positive integer")
    return min(int(raw), MAX_LIMIT)


def templates_list(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    waba_for(req, waba)
    templates.template_reviews_run()
    rows = SandboxTemplate.objects.filter(waba=waba).exclude(status="DELETED").order_by("id")
    for param in ("name", "status", "category", "language"):
        value = req.str_param(param)
        if value:
            rows = rows.filter(
                **({"name__icontains": value} if param == "name" else {param: value})
            )
    limit = _limit(req)
    after = req.str_param("after")
    if after:
        rows = rows.filter(pk__gt=_decode(after))
    page = list(rows[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    requested = req.fields()
    answer: dict[str, Any] = {
        "data": [render("template", _fields(t), requested, TEMPLATE_DEFAULT_FIELDS) for t in page]
    }
    if page:
        cursors = {"before": _cursor(page[0].pk), "after": _cursor(page[-1].pk)}
        answer["paging"] = {"cursors": cursors}
        if more:
            query = {k: v for k, v in req.http.GET.items() if k != "access_token"}
            query["after"] = cursors["after"]
            answer["paging"]["next"] = req.http.build_absolute_uri(
                f"{req.http.path}?{urlencode(query)}"
            )
    return answer


def template_create(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    waba_for(req, waba)
    created = templates.template_create(
        waba=waba,
        name=req.str_param("name", required=True),
        language=req.str_param("language", required=True),
        category=req.str_param("category", required=True).upper(),
        components=req.json_param("components"),
        parameter_format=req.str_param("parameter_format", default="POSITIONAL"),
    )
    return {"id": created.template_id, "status": created.status, "category": created.category}


def templates_delete(req: GraphRequest, waba: SandboxWaba) -> dict[str, Any]:
    waba_for(req, waba)
    templates.template_delete(
        waba=waba,
        name=req.str_param("name", required=True),
        template_id=req.str_param("hsm_id"),
    )
    return {"success": True}


def template_get(req: GraphRequest, template: SandboxTemplate) -> dict[str, Any]:
    waba_for(req, template.waba)
    templates.template_reviews_run()
    template.refresh_from_db()
    return render("template", _fields(template), req.fields(), TEMPLATE_DEFAULT_FIELDS)


def template_update(req: GraphRequest, template: SandboxTemplate) -> dict[str, Any]:
    waba_for(req, template.waba)
    category = req.str_param("category")
    components = req.json_param("components")
    if components is None and not category:
        raise invalid_parameter("Send components or category to edit a template")
    templates.template_update(
        template=template, components=components, category=category.upper() or None
    )
    return {"success": True}
