"""The body of `POST Message/` as Plivo's SDK sends it, checked and translated into what Meta's
send endpoint expects. Pure: no database, no network.

Plivo's shapes (template parameters with `media`, interactive buttons with `cta_url`, location
fields as strings) become Meta's (`{"type": "image", "image": {"link": ...}}`, reply buttons,
`cta_url` actions, numbers); fields sent as null are treated as absent. Every problem raises
InvalidRequest with a plain sentence naming the field and the rule.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from onboarding.errors import InvalidRequest

MAX_TEXT = 4096  # Meta's limit for a text body
MAX_CAPTION = 1024
MAX_BUTTONS = 3
MAX_LIST_ROWS = 10
MAX_BUTTON_TITLE = 20
EXPIRY_RANGE = (5, 86400)  # message_expiry, seconds
_NUMBER = re.compile(r"^\+?[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")
CONTENT_FIELDS = ("text", "template", "interactive", "location", "media_urls")
PARAMETER_TYPES = (
    "text",
    "currency",
    "date_time",
    "image",
    "video",
    "document",
    "payload",
    "location",
    "coupon_code",
    "action",
)
MEDIA_PARAMETERS = ("image", "video", "document")
INTERACTIVE_TYPES = ("button", "list", "cta_url")
_EXTENSIONS = {
    "image": (".jpg", ".jpeg", ".png"),
    "sticker": (".webp",),
    "video": (".mp4", ".3gp"),
    "audio": (".aac", ".amr", ".mp3", ".m4a", ".ogg", ".opus"),
}


@dataclass(frozen=True)
class TemplateRef:
    """The template a send names, with the parameter counts it gives (checked against ours)."""

    name: str
    language: str
    body_params: int
    header_params: int


@dataclass(frozen=True)
class Content:
    """One message as Meta takes it: `kind` (Meta's type) and the object under that key."""

    kind: str
    body: dict[str, Any]
    template: TemplateRef | None = None

    @property
    def free_form(self) -> bool:
        """Anything but a template needs the customer's 24-hour window to be open."""
        return self.kind != "template"


@dataclass(frozen=True)
class SendRequest:
    src: str  # digits
    dsts: tuple[str, ...]  # digits, in order, without repeats
    content: Content
    fallback: Content | None
    callback_url: str
    callback_method: str
    expiry_s: int | None


def _present(data: Mapping[str, Any], key: str) -> Any:
    """The value of `key`, None when absent, null or an empty string."""
    value = data.get(key)
    return None if value == "" else value


def _object(data: Mapping[str, Any], key: str) -> Any:
    """A structured field; form posts may carry it as a JSON string, as Graph accepts."""
    value = _present(data, key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidRequest(f"{key} must be a JSON object.") from None
    return value


def number_digits(value: Any, field: str) -> str:
    """An E.164 number (with or without +, spaces and dashes allowed) as digits."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a phone number in E.164 format, e.g. +14155550123.")
    text = _SEPARATORS.sub("", str(value))
    if not _NUMBER.match(text):
        raise InvalidRequest(
            f"{field} '{value}' is not a valid E.164 phone number (e.g. +14155550123)."
        )
    return text.lstrip("+")


def _dsts(value: Any, src: str) -> tuple[str, ...]:
    if value is None:
        raise InvalidRequest("dst is required: one E.164 number, or several joined by '<'.")
    if not isinstance(value, str):
        raise InvalidRequest("dst must be a string: one E.164 number, or several joined by '<'.")
    parts = [part for part in value.split("<") if part.strip()]
    if not parts:
        raise InvalidRequest("dst is required: one E.164 number, or several joined by '<'.")
    limit = int(settings.MESSAGE_MAX_RECIPIENTS)
    if len(parts) > limit:
        raise InvalidRequest(f"dst names {len(parts)} numbers; at most {limit} per request.")
    dsts = tuple(dict.fromkeys(number_digits(part.strip(), "dst") for part in parts))
    if src in dsts:
        raise InvalidRequest("dst cannot include the src number.")
    return dsts


def _str_field(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = _present(data, key)
    if value is None:
        if required:
            raise InvalidRequest(f"{where}.{key} is required.")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidRequest(f"{where}.{key} must be a string.")
    return str(value)


def _media_object(reference: str) -> dict[str, str]:
    """Meta's media object: an uploaded media id (digits) or a link."""
    if reference.isdigit():
        return {"id": reference}
    _http_url(reference, "template parameter media")
    return {"link": reference}


def _parameter(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{where} must be an object.")
    kind = _str_field(raw, "type", where).lower()
    if kind not in PARAMETER_TYPES:
        raise InvalidRequest(f"{where}.type must be one of {', '.join(PARAMETER_TYPES)}.")
    native = raw.get(kind)
    if isinstance(native, Mapping) and kind not in ("text", "payload", "coupon_code"):
        return {"type": kind, kind: dict(native)}  # already Meta's shape
    parameter: dict[str, Any] = {"type": kind}
    if kind in ("text", "coupon_code"):
        parameter[kind] = _str_field(raw, "text" if kind == "text" else kind, where)
    elif kind == "payload":
        parameter["payload"] = _str_field(raw, "payload", where)
    elif kind in MEDIA_PARAMETERS:
        parameter[kind] = _media_object(_str_field(raw, "media", where))
    elif kind in ("currency", "date_time", "location"):
        value = raw.get(kind)
        if not isinstance(value, Mapping):
            raise InvalidRequest(f"{where}.{kind} must be an object.")
        parameter[kind] = {k: v for k, v in value.items() if v is not None}
    else:
        parameter[kind] = raw.get(kind)
    name = _present(raw, "parameter_name")
    if name is not None:
        parameter["parameter_name"] = str(name)
    return parameter


def _component(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{where} must be an object.")
    component: dict[str, Any] = {"type": _str_field(raw, "type", where).lower()}
    for key in ("sub_type", "index"):
        value = _present(raw, key)
        if value is not None:
            component[key] = str(value)
    if component["type"] == "button" and not {"sub_type", "index"} <= set(component):
        raise InvalidRequest(f"{where}: a button component needs sub_type and index.")
    parameters = _present(raw, "parameters") or []
    if not isinstance(parameters, list):
        raise InvalidRequest(f"{where}.parameters must be a list.")
    component["parameters"] = [
        _parameter(p, f"{where}.parameters[{i}]") for i, p in enumerate(parameters)
    ]
    return component


def template_content(raw: Any, field: str = "template") -> Content:
    """Plivo's `template` ({name, language, components}) as Meta's template object."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{field} must be an object with name, language and components.")
    name = _str_field(raw, "name", field)
    language = _str_field(raw, "language", field)
    components = _present(raw, "components") or []
    if not isinstance(components, list):
        raise InvalidRequest(f"{field}.components must be a list.")
    meta_components = [_component(c, f"{field}.components[{i}]") for i, c in enumerate(components)]

    def count(kind: str) -> int:
        return sum(len(c["parameters"]) for c in meta_components if c["type"] == kind)

    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if meta_components:
        body["components"] = meta_components
    ref = TemplateRef(name, language, body_params=count("body"), header_params=count("header"))
    return Content("template", body, ref)


def _text_content(text: Any) -> Content:
    if not isinstance(text, str):
        raise InvalidRequest("text must be a string.")
    if len(text) > MAX_TEXT:
        raise InvalidRequest(
            f"text is {len(text)} characters long; WhatsApp allows at most {MAX_TEXT}."
        )
    return Content("text", {"body": text, "preview_url": "://" in text})


def _interactive_header(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping) or not any(v is not None for v in raw.values()):
        return None
    kind = str(raw.get("type") or ("text" if raw.get("text") else "")).lower()
    if kind == "text":
        return {"type": "text", "text": _str_field(raw, "text", "interactive.header")}
    if kind in ("image", "video", "document"):
        return {"type": kind, kind: _media_object(_str_field(raw, "media", "interactive.header"))}
    raise InvalidRequest("interactive.header.type must be text, image, video or document.")


def _text_of(raw: Any, where: str, *, required: bool) -> str:
    text = raw.get("text") if isinstance(raw, Mapping) else None
    if not isinstance(text, str) or not text:
        if required:
            raise InvalidRequest(f"{where}.text is required.")
        return ""
    return text


def _buttons(action: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    buttons = action.get("buttons") or []
    if not isinstance(buttons, list) or not all(isinstance(b, Mapping) for b in buttons):
        raise InvalidRequest("interactive.action.buttons must be a list of objects.")
    return buttons


def _title(raw: Mapping[str, Any], where: str) -> str:
    title = _str_field(raw, "title", where)
    if len(title) > MAX_BUTTON_TITLE:
        raise InvalidRequest(f"{where}.title must be at most {MAX_BUTTON_TITLE} characters.")
    return title


def _reply_buttons(action: Mapping[str, Any]) -> dict[str, Any]:
    buttons = _buttons(action)
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise InvalidRequest(f"interactive buttons need 1 to {MAX_BUTTONS} buttons.")
    replies = []
    for i, button in enumerate(buttons):
        where = f"interactive.action.buttons[{i}]"
        reply = {"id": _str_field(button, "id", where), "title": _title(button, where)}
        replies.append({"type": "reply", "reply": reply})
    return {"buttons": replies}


def _list_action(action: Mapping[str, Any]) -> dict[str, Any]:
    sections = action.get("sections") or []
    if not isinstance(sections, list) or not sections:
        raise InvalidRequest("an interactive list needs action.sections.")
    meta_sections, rows_total = [], 0
    for i, section in enumerate(sections):
        where = f"interactive.action.sections[{i}]"
        rows = section.get("rows") if isinstance(section, Mapping) else None
        if not isinstance(rows, list) or not rows:
            raise InvalidRequest(f"{where}.rows must be a non-empty list.")
        meta_rows = []
        for j, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidRequest(f"{where}.rows[{j}] must be an object.")
            entry = {"id": _str_field(row, "id", f"{where}.rows[{j}]")}
            entry["title"] = _str_field(row, "title", f"{where}.rows[{j}]")
            if row.get("description"):
                entry["description"] = str(row["description"])
            meta_rows.append(entry)
        rows_total += len(meta_rows)
        title = section.get("title") if isinstance(section, Mapping) else None
        meta_sections.append({"rows": meta_rows, **({"title": str(title)} if title else {})})
    if rows_total > MAX_LIST_ROWS:
        raise InvalidRequest(f"an interactive list has at most {MAX_LIST_ROWS} rows in all.")
    buttons = _buttons(action)
    if not buttons:
        raise InvalidRequest(
            "an interactive list needs action.buttons[0].title: the text of the list's button."
        )
    return {
        "button": _title(buttons[0], "interactive.action.buttons[0]"),
        "sections": meta_sections,
    }


def _cta_action(action: Mapping[str, Any]) -> dict[str, Any]:
    buttons = _buttons(action)
    if len(buttons) != 1:
        raise InvalidRequest("an interactive cta_url needs exactly one button with cta_url.")
    where = "interactive.action.buttons[0]"
    url = _http_url(_str_field(buttons[0], "cta_url", where), f"{where}.cta_url")
    return {
        "name": "cta_url",
        "parameters": {"display_text": _title(buttons[0], where), "url": url},
    }


def interactive_content(raw: Any) -> Content:
    """Plivo's `interactive` (button, list, cta_url) as Meta's interactive object."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest("interactive must be an object.")
    kind = str(raw.get("type") or "").lower()
    if kind not in INTERACTIVE_TYPES:
        raise InvalidRequest(f"interactive.type must be one of {', '.join(INTERACTIVE_TYPES)}.")
    action = raw.get("action")
    if not isinstance(action, Mapping):
        raise InvalidRequest("interactive.action is required.")
    builders = {"button": _reply_buttons, "list": _list_action, "cta_url": _cta_action}
    body: dict[str, Any] = {
        "type": kind,
        "body": {"text": _text_of(raw.get("body"), "interactive.body", required=True)},
        "action": builders[kind](action),
    }
    header = _interactive_header(raw.get("header"))
    if header:
        body["header"] = header
    footer = _text_of(raw.get("footer"), "interactive.footer", required=False)
    if footer:
        body["footer"] = {"text": footer}
    return Content("interactive", body)


def _coordinate(raw: Mapping[str, Any], key: str, limit: float) -> float:
    try:
        value = float(raw.get(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidRequest(f"location.{key} must be a number.") from None
    if not -limit <= value <= limit:
        raise InvalidRequest(f"location.{key} must be between -{limit:g} and {limit:g}.")
    return value


def location_content(raw: Any) -> Content:
    if not isinstance(raw, Mapping):
        raise InvalidRequest("location must be an object with latitude and longitude.")
    body: dict[str, Any] = {
        "latitude": _coordinate(raw, "latitude", 90),
        "longitude": _coordinate(raw, "longitude", 180),
    }
    for key in ("name", "address"):
        if raw.get(key):
            body[key] = str(raw[key])
    return Content("location", body)


def _http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{field} must be an http(s) URL.")
    return value


def media_kind(url: str) -> str:
    """Meta's media type for a URL, from its extension; anything else goes as a document."""
    path = urlsplit(url).path.lower()
    for kind, extensions in _EXTENSIONS.items():
        if path.endswith(extensions):
            return kind
    return "document"


def media_content(urls: Any, caption: Any) -> Content:
    if not isinstance(urls, list) or not urls:
        raise InvalidRequest("media_urls must be a list with one URL.")
    if len(urls) != 1:
        raise InvalidRequest("WhatsApp sends one file per message: give one URL in media_urls.")
    if not isinstance(urls[0], str):
        raise InvalidRequest("media_urls must hold URLs.")
    url = _http_url(urls[0], "media_urls[0]")
    kind = media_kind(url)
    body: dict[str, Any] = {"link": url}
    if caption is not None:
        if kind in ("audio", "sticker"):
            raise InvalidRequest(f"A {kind} cannot carry text; send the text separately.")
        if not isinstance(caption, str) or len(caption) > MAX_CAPTION:
            raise InvalidRequest(f"text (the caption) must be at most {MAX_CAPTION} characters.")
        body["caption"] = caption
    if kind == "document":
        filename = urlsplit(url).path.rsplit("/", 1)[-1]
        if filename:
            body["filename"] = filename
    return Content(kind, body)


def _content(data: Mapping[str, Any]) -> Content:
    given = [key for key in CONTENT_FIELDS if _present(data, key) is not None]
    text = _present(data, "text")
    if "media_urls" in given:
        if len(given) > (2 if text is not None else 1):
            raise InvalidRequest("Send media_urls alone, or with text as its caption.")
        return media_content(_present(data, "media_urls"), text)
    if not given:
        raise InvalidRequest(
            "The message is empty: give text, template, interactive, location or media_urls."
        )
    if len(given) > 1:
        raise InvalidRequest(
            f"Send one kind of content per message; this request has {' and '.join(given)}."
        )
    kind = given[0]
    if kind == "text":
        return _text_content(text)
    if kind == "template":
        return template_content(_object(data, "template"))
    if kind == "interactive":
        return interactive_content(_object(data, "interactive"))
    return location_content(_object(data, "location"))


def _callback(data: Mapping[str, Any]) -> tuple[str, str]:
    url = _present(data, "url")
    method = str(_present(data, "method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise InvalidRequest("method must be GET or POST.")
    if url is None:
        return "", method
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidRequest("url must be an http(s) URL of at most 2000 characters.")
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed or not parts.hostname or parts.username or parts.password:
        raise InvalidRequest(f"url must be an {' or '.join(allowed)} URL without credentials.")
    return url, method


def _expiry(data: Mapping[str, Any]) -> int | None:
    value = _present(data, "message_expiry")
    if value is None:
        return None
    low, high = EXPIRY_RANGE
    if isinstance(value, bool) or not str(value).isdigit() or not low <= int(value) <= high:
        raise InvalidRequest(f"message_expiry must be a whole number of seconds, {low} to {high}.")
    return int(value)


def assert_no_nul(value: Any) -> None:
    """PostgreSQL text and JSON cannot hold NUL characters: refuse them, whole request."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequest("The request may not contain NUL characters.")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            assert_no_nul(key)
            assert_no_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            assert_no_nul(item)


def send_request_parse(data: Mapping[str, Any]) -> SendRequest:
    """The checked send request, or InvalidRequest naming the first problem."""
    assert_no_nul(dict(data.items()))
    kind = _present(data, "type")
    if kind != "whatsapp":
        raise InvalidRequest("type must be whatsapp: this platform sends WhatsApp messages only.")
    if _present(data, "powerpack_uuid") is not None:
        raise InvalidRequest("powerpack_uuid is not supported: send from src, a WhatsApp number.")
    if _present(data, "media_ids") is not None:
        raise InvalidRequest("media_ids is not supported: give the file's URL in media_urls.")
    src_value = _present(data, "src")
    if src_value is None:
        raise InvalidRequest("src is required: the WhatsApp number to send from.")
    src = number_digits(src_value, "src")
    dsts = _dsts(_present(data, "dst"), src)
    content = _content(data)
    fallback_raw = _object(data, "fallback_template")
    fallback = None
    if fallback_raw is not None:
        if not content.free_form:
            raise InvalidRequest(
                "fallback_template is for free-form messages; this message is a template already."
            )
        fallback = template_content(fallback_raw, "fallback_template")
    url, method = _callback(data)
    return SendRequest(src, dsts, content, fallback, url, method, _expiry(data))
