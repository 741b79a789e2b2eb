"""The route table: (node kind, edge, method) -> endpoint name and handler.

Endpoint names are what the call log records and what faults match (`docs/sandbox.md` lists
them); "*" in a fault matches every endpoint.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.graph import credit, messages, oauth, phone_numbers, templates, wabas
from sandbox.graph.request import GraphRequest

Handler = Callable[[GraphRequest, Any], Any]


@dataclass(frozen=True)
class Route:
    endpoint: str
    handler: Handler


# Paths without a node id.
FIXED: dict[tuple[str, str], Route] = {
    ("oauth/access_token", "GET"): Route("oauth.access_token", oauth.access_token),
    ("debug_token", "GET"): Route("debug_token", oauth.debug_token),
}

NODE: dict[tuple[str, str, str], Route] = {
    ("waba", "", "GET"): Route("waba.get", wabas.waba_get),
    ("waba", "phone_numbers", "GET"): Route("waba.phone_numbers", wabas.phone_numbers_list),
    ("waba", "assigned_users", "POST"): Route("waba.assigned_users", wabas.assigned_users_add),
    ("waba", "subscribed_apps", "GET"): Route("subscribed_apps.get", wabas.subscribed_apps_get),
    ("waba", "subscribed_apps", "POST"): Route("subscribed_apps.post", wabas.subscribed_apps_post),
    ("waba", "subscribed_apps", "DELETE"): Route(
        "subscribed_apps.delete", wabas.subscribed_apps_delete
    ),
    ("waba", "message_templates", "GET"): Route("templates.list", templates.templates_list),
    ("waba", "message_templates", "POST"): Route("templates.create", templates.template_create),
    ("waba", "message_templates", "DELETE"): Route("templates.delete", templates.templates_delete),
    ("template", "", "GET"): Route("template.get", templates.template_get),
    ("template", "", "POST"): Route("template.update", templates.template_update),
    ("phone_number", "", "GET"): Route("phone_number.get", phone_numbers.phone_get),
    ("phone_number", "", "POST"): Route("phone_number.update", phone_numbers.phone_update),
    ("phone_number", "register", "POST"): Route("phone_number.register", phone_numbers.register),
    ("phone_number", "deregister", "POST"): Route(
        "phone_number.deregister", phone_numbers.deregister
    ),
    ("phone_number", "messages", "POST"): Route("messages.send", messages.send),
    ("phone_number", "media", "POST"): Route("media.upload", messages.media_upload),
    ("media", "", "GET"): Route("media.get", messages.media_get),
    ("media", "", "DELETE"): Route("media.delete", messages.media_delete),
    ("credit_line", "whatsapp_credit_sharing_and_attach", "POST"): Route(
        "credit_line.share", credit.share_and_attach
    ),
    ("credit_line", "owning_credit_allocation_configs", "GET"): Route(
        "credit_line.allocations", credit.allocations_list
    ),
    ("allocation", "", "GET"): Route("allocation.get", credit.allocation_get),
    ("allocation", "", "DELETE"): Route("allocation.delete", credit.allocation_delete),
    ("business", "extendedcredits", "GET"): Route(
        "business.extendedcredits", credit.extended_credits
    ),
}

# Names for calls on ids that do not exist, so faults and the log still see an endpoint.
_BY_EDGE: dict[tuple[str, str], str] = {}
for (_kind, _edge, _method), _route in NODE.items():
    if _edge:
        _BY_EDGE.setdefault((_edge, _method), _route.endpoint)


def endpoint_for_unknown(edge: str, method: str) -> str:
    return _BY_EDGE.get((edge, method), f"node.{method.lower()}" if not edge else "unknown")


ENDPOINTS = sorted(
    {route.endpoint for route in FIXED.values()}
    | {route.endpoint for route in NODE.values()}
    | {"media.download"}
)
