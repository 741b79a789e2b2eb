"""Template bodies for the Template API, checked before they go to Meta. Pure: no database.

The rules are Meta's (meta-platform.md 8.3): a snake_case name, a language code, a category of
MARKETING, UTILITY or AUTHENTICATION, and components with exactly one BODY; plus the limits
Meta documents for headers, footers and buttons. Components are kept in Meta's shape, with
`type` (and a header's `format`) upper-cased.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from messaging.message_input import assert_no_nul
from onboarding.errors import InvalidRequest

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
STATUSES = (
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "DELETED",
    "LIMIT_EXCEEDED",
    "ARCHIVED",
)
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")
_POSITIONAL = re.compile(r"\{\{\s*([0-9]+)\s*\}\}")
_ANY = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MAX_BODY = 1024
MAX_HEADER_TEXT = 60
MAX_FOOTER = 60
MAX_BUTTONS = 10
MAX_BUTTON_TEXT = 25


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str


@dataclass(frozen=True)
class TemplateEdit:
    components: list[dict[str, Any]] | None
    category: str | None


def _text(component: Mapping[str, Any], where: str, limit: int, *, required: bool) -> str:
    text = component.get("text")
    if text is None and not required:
        return ""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"{where} needs text.")
    if len(text) > limit:
        raise InvalidRequest(f"{where} text must be at most {limit} characters.")
    return text


def _check_placeholders(text: str, where: str, parameter_format: str) -> None:
    if parameter_format == "NAMED":
        return
    names = _ANY.findall(text)
    numbers = [int(n) for n in _POSITIONAL.findall(text)]
    if len(numbers) != len(names):
        raise InvalidRequest(f"{where} uses named variables; set parameter_format to NAMED.")
    if sorted(set(numbers)) != list(range(1, len(set(numbers)) + 1)):
        raise InvalidRequest(
            f"{where} variables must be numbered {{{{1}}}}, {{{{2}}}}, ... in order."
        )


def _header(component: dict[str, Any], parameter_format: str) -> None:
    fmt = str(component.get("format") or "TEXT").upper()
    if fmt not in HEADER_FORMATS:
        raise InvalidRequest(f"HEADER format must be one of {', '.join(HEADER_FORMATS)}.")
    component["format"] = fmt
    if fmt == "TEXT":
        text = _text(component, "The HEADER", MAX_HEADER_TEXT, required=True)
        if len(_ANY.findall(text)) > 1:
            raise InvalidRequest("The HEADER text may have at most one variable.")
        _check_placeholders(text, "The HEADER", parameter_format)


def _buttons(component: Mapping[str, Any]) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise InvalidRequest(f"BUTTONS needs a list of 1 to {MAX_BUTTONS} buttons.")
    for i, button in enumerate(buttons):
        if not isinstance(button, Mapping):
            raise InvalidRequest(f"buttons[{i}] must be an object.")
        kind = str(button.get("type") or "").upper()
        if kind not in BUTTON_TYPES:
            raise InvalidRequest(f"buttons[{i}].type must be one of {', '.join(BUTTON_TYPES)}.")
        text = button.get("text")
        if kind not in ("OTP", "CATALOG", "MPM") and (not isinstance(text, str) or not text):
            raise InvalidRequest(f"buttons[{i}] needs text.")
        if isinstance(text, str) and len(text) > MAX_BUTTON_TEXT:
            raise InvalidRequest(f"buttons[{i}].text must be at most {MAX_BUTTON_TEXT} characters.")


def _component(raw: Any, i: int, category: str, parameter_format: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"components[{i}] must be an object.")
    component = dict(raw)
    kind = str(component.get("type") or "").upper()
    if kind not in COMPONENT_TYPES:
        raise InvalidRequest(f"components[{i}].type must be one of {', '.join(COMPONENT_TYPES)}.")
    component["type"] = kind
    if kind == "BODY" and (category != "AUTHENTICATION" or "text" in component):
        text = _text(component, "The BODY", MAX_BODY, required=True)
        _check_placeholders(text, "The BODY", parameter_format)
    elif kind == "HEADER":
        _header(component, parameter_format)
    elif kind == "FOOTER":
        text = _text(component, "The FOOTER", MAX_FOOTER, required=True)
        if _ANY.search(text):
            raise InvalidRequest("The FOOTER cannot have variables.")
    elif kind == "BUTTONS":
        _buttons(component)
    return component


def components_parse(raw: Any, *, category: str, parameter_format: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("components must be a non-empty list; it needs one BODY.")
    components = [_component(c, i, category, parameter_format) for i, c in enumerate(raw)]
    kinds = [c["type"] for c in components]
    if kinds.count("BODY") != 1:
        raise InvalidRequest("A template needs exactly one BODY component.")
    for kind in ("HEADER", "FOOTER", "BUTTONS"):
        if kinds.count(kind) > 1:
            raise InvalidRequest(f"A template has at most one {kind} component.")
    return components


def category_parse(raw: Any) -> str:
    category = str(raw or "").upper()
    if category not in CATEGORIES:
        raise InvalidRequest(f"category must be one of {', '.join(CATEGORIES)}.")
    return category


def template_spec_parse(data: Mapping[str, Any]) -> TemplateSpec:
    assert_no_nul(dict(data.items()))
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(
            "name must be snake_case: lowercase letters, digits and underscores (at most 512)."
        )
    language = data.get("language")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise InvalidRequest("language must be a language code such as en or en_US.")
    category = category_parse(data.get("category"))
    parameter_format = str(data.get("parameter_format") or "POSITIONAL").upper()
    if parameter_format not in PARAMETER_FORMATS:
        raise InvalidRequest("parameter_format must be POSITIONAL or NAMED.")
    components = components_parse(
        data.get("components"), category=category, parameter_format=parameter_format
    )
    return TemplateSpec(name, language, category, components, parameter_format)


def template_edit_parse(
    data: Mapping[str, Any], *, category: str, parameter_format: str
) -> TemplateEdit:
    assert_no_nul(dict(data.items()))
    raw_components, raw_category = data.get("components"), data.get("category")
    if raw_components is None and raw_category in (None, ""):
        raise InvalidRequest("Give components and/or category to edit the template.")
    new_category = category_parse(raw_category) if raw_category not in (None, "") else None
    components = (
        components_parse(
            raw_components,
            category=new_category or category,
            parameter_format=parameter_format or "POSITIONAL",
        )
        if raw_components is not None
        else None
    )
    return TemplateEdit(components, new_category)
