"""Graph nodes: finding an object by id, and rendering its fields the way Graph selects them."""

from collections.abc import Callable
from typing import Any

from django.db.models import Model

from sandbox.graph.errors import invalid_parameter
from sandbox.models import (
    SandboxApp,
    SandboxBusiness,
    SandboxCreditAllocation,
    SandboxCreditLine,
    SandboxMedia,
    SandboxPhoneNumber,
    SandboxTemplate,
    SandboxWaba,
)

# (node kind, model, id field, extra filter), in lookup order.
NODE_TYPES: list[tuple[str, type[Model], str, dict[str, Any]]] = [
    ("waba", SandboxWaba, "waba_id", {}),
    ("phone_number", SandboxPhoneNumber, "phone_number_id", {}),
    ("template", SandboxTemplate, "template_id", {}),
    ("allocation", SandboxCreditAllocation, "allocation_config_id", {}),
    ("media", SandboxMedia, "media_id", {"deleted_at__isnull": True}),
    ("credit_line", SandboxCreditLine, "credit_line_id", {}),
    ("business", SandboxBusiness, "business_id", {}),
    ("app", SandboxApp, "app_id", {}),
]
# What handlers of a kind read next, fetched with the node (a phone number's WABA: access checks).
RELATED: dict[str, tuple[str, ...]] = {"phone_number": ("waba",)}
GRAPH_TYPE_NAMES = {
    "waba": "WhatsAppBusinessAccount",
    "phone_number": "WhatsAppBusinessPhoneNumber",
    "template": "WhatsAppMessageTemplate",
    "allocation": "ExtendedCreditAllocationConfig",
    "media": "WhatsAppBusinessMedia",
}


def find_node(node_id: str) -> tuple[str, Model] | None:
    if not node_id.isdigit():
        return None
    for kind, model, field, extra in NODE_TYPES:
        nodes = model._default_manager.filter(**{field: node_id}, **extra)
        found = nodes.select_related(*RELATED[kind]).first() if kind in RELATED else nodes.first()
        if found is not None:
            if kind == "template" and getattr(found, "status", "") == "DELETED":
                return None
            return kind, found
    return None


FieldMap = dict[str, Callable[[], Any]]


def render(kind: str, fields: FieldMap, requested: list[str] | None, default: list[str]) -> dict:
    """The requested fields (or the node's defaults) with values; unset values are left out,
    as Graph does, and unknown names get Meta's #100."""
    names = requested or default
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise invalid_parameter(
            f"Tried accessing nonexisting field ({unknown[0]}) on node type "
            f"({GRAPH_TYPE_NAMES.get(kind, kind)})"
        )
    out: dict[str, Any] = {}
    for name in names:
        value = fields[name]()
        if value not in (None, ""):
            out[name] = value
    if "id" not in out and "id" in fields:
        out["id"] = fields["id"]()
    return out


def graph_time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S+0000") if value else None


def display_number(digits: str) -> str:
    """How Graph shows a number: "+1 555-010-1234" for NANP, "+<digits>" otherwise."""
    if len(digits) == 11 and digits.startswith("1"):
        return f"+1 {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    return f"+{digits}"
