"""Typed records for the Graph API fields we read; raw response dicts never leave this package.

Each record has a `from_graph` constructor that reads only the fields we use and raises
GraphUnexpectedResponseError when a field we need is missing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onboarding.graph.errors import GraphUnexpectedResponseError

Body = Mapping[str, Any]


def _require(body: Body, key: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise GraphUnexpectedResponseError(f"Graph response lacks {key!r}")
    return str(value)


def _str(body: Body, key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def _dict(body: Body, key: str) -> Body:
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def _list(body: Body, key: str) -> list[Any]:
    value = body.get(key)
    return value if isinstance(value, list) else []


def _timestamp(value: object) -> datetime | None:
    """Meta's Unix timestamps; 0 (or nothing) means "never"."""
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


@dataclass(frozen=True)
class AccessToken:
    """The business token an Embedded Signup code is exchanged for."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None

    @classmethod
    def from_graph(cls, body: Body) -> "AccessToken":
        expires_in = body.get("expires_in")
        return cls(
            access_token=_require(body, "access_token"),
            token_type=_str(body, "token_type") or "bearer",
            expires_in=int(expires_in)
            if isinstance(expires_in, int | str) and str(expires_in).isdigit()
            else None,
        )


@dataclass(frozen=True)
class GranularScope:
    scope: str
    target_ids: tuple[str, ...]


@dataclass(frozen=True)
class TokenInfo:
    """What `debug_token` says about a token."""

    app_id: str
    type: str
    application: str
    is_valid: bool
    issued_at: datetime | None
    expires_at: datetime | None  # None: never expires
    data_access_expires_at: datetime | None
    scopes: tuple[str, ...]
    granular_scopes: tuple[GranularScope, ...]
    user_id: str

    def target_ids(self, scope: str) -> tuple[str, ...]:
        """The asset ids (WABA ids for the WhatsApp scopes) a scope was granted on."""
        for granted in self.granular_scopes:
            if granted.scope == scope:
                return granted.target_ids
        return ()

    @classmethod
    def from_graph(cls, body: Body) -> "TokenInfo":
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise GraphUnexpectedResponseError("debug_token response lacks 'data'")
        return cls(
            app_id=_str(data, "app_id"),
            type=_str(data, "type"),
            application=_str(data, "application"),
            is_valid=bool(data.get("is_valid")),
            issued_at=_timestamp(data.get("issued_at")),
            expires_at=_timestamp(data.get("expires_at")),
            data_access_expires_at=_timestamp(data.get("data_access_expires_at")),
            scopes=tuple(str(s) for s in _list(data, "scopes")),
            granular_scopes=tuple(
                GranularScope(
                    scope=_str(g, "scope"),
                    target_ids=tuple(str(t) for t in _list(g, "target_ids")),
                )
                for g in _list(data, "granular_scopes")
                if isinstance(g, Mapping)
            ),
            user_id=_str(data, "user_id"),
        )


@dataclass(frozen=True)
class SubscribedApp:
    """One app subscribed to a WABA's webhooks, with the WABA's override URL if any."""

    app_id: str
    name: str
    link: str
    override_callback_uri: str

    @classmethod
    def from_graph(cls, body: Body) -> "SubscribedApp":
        app = _dict(body, "whatsapp_business_api_data")
        return cls(
            app_id=_str(app, "id"),
            name=_str(app, "name"),
            link=_str(app, "link"),
            override_callback_uri=_str(body, "override_callback_uri"),
        )


@dataclass(frozen=True)
class CreditSharing:
    """The result of sharing our credit line with a WABA."""

    allocation_config_id: str
    waba_id: str

    @classmethod
    def from_graph(cls, body: Body) -> "CreditSharing":
        return cls(
            allocation_config_id=_require(body, "allocation_config_id"),
            waba_id=_str(body, "waba_id"),
        )


@dataclass(frozen=True)
class CreditAllocation:
    """A credit allocation config: who receives our credit line, and its state."""

    id: str
    receiving_credential_id: str
    receiving_business_id: str
    request_status: str

    @classmethod
    def from_graph(cls, body: Body) -> "CreditAllocation":
        return cls(
            id=_require(body, "id"),
            receiving_credential_id=_str(_dict(body, "receiving_credential"), "id"),
            receiving_business_id=_str(_dict(body, "receiving_business"), "id"),
            request_status=_str(body, "request_status"),
        )


@dataclass(frozen=True)
class WabaInfo:
    """The fields of a WABA we read; a field not asked for is empty."""

    id: str
    name: str
    currency: str
    primary_funding_id: str
    owner_business_id: str
    account_review_status: str

    @classmethod
    def from_graph(cls, body: Body) -> "WabaInfo":
        return cls(
            id=_require(body, "id"),
            name=_str(body, "name"),
            currency=_str(body, "currency"),
            primary_funding_id=_str(body, "primary_funding_id"),
            owner_business_id=_str(_dict(body, "owner_business_info"), "id"),
            account_review_status=_str(body, "account_review_status"),
        )


def _messaging_limit(body: Body) -> str:
    # v24.0 replaced messaging_limit_tier with whatsapp_business_manager_messaging_limit.
    value = body.get("whatsapp_business_manager_messaging_limit", body.get("messaging_limit_tier"))
    if isinstance(value, Mapping):
        value = value.get("current_limit") or value.get("tier") or value.get("limit")
    return "" if value is None else str(value)


@dataclass(frozen=True)
class PhoneNumberInfo:
    """What Meta says about a business phone number."""

    id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str
    status: str
    code_verification_status: str
    name_status: str
    platform_type: str
    throughput_level: str
    messaging_limit_tier: str
    is_on_biz_app: bool | None

    @classmethod
    def from_graph(cls, body: Body) -> "PhoneNumberInfo":
        on_biz_app = body.get("is_on_biz_app")
        return cls(
            id=_require(body, "id"),
            display_phone_number=_str(body, "display_phone_number"),
            verified_name=_str(body, "verified_name"),
            quality_rating=_str(body, "quality_rating"),
            status=_str(body, "status"),
            code_verification_status=_str(body, "code_verification_status"),
            name_status=_str(body, "name_status"),
            platform_type=_str(body, "platform_type"),
            throughput_level=_str(_dict(body, "throughput"), "level"),
            messaging_limit_tier=_messaging_limit(body),
            is_on_biz_app=on_biz_app if isinstance(on_biz_app, bool) else None,
        )


@dataclass(frozen=True)
class SentMessage:
    """Meta's answer to a send: the wamid and the recipient's WhatsApp id."""

    message_id: str
    wa_id: str
    input: str
    message_status: str

    @classmethod
    def from_graph(cls, body: Body) -> "SentMessage":
        messages = [m for m in _list(body, "messages") if isinstance(m, Mapping)]
        contacts = [c for c in _list(body, "contacts") if isinstance(c, Mapping)]
        if not messages:
            raise GraphUnexpectedResponseError("send response lacks 'messages'")
        contact: Body = contacts[0] if contacts else {}
        return cls(
            message_id=_require(messages[0], "id"),
            wa_id=_str(contact, "wa_id"),
            input=_str(contact, "input"),
            message_status=_str(messages[0], "message_status"),
        )


@dataclass(frozen=True)
class TemplateButton:
    type: str
    text: str
    url: str
    phone_number: str


@dataclass(frozen=True)
class TemplateComponent:
    type: str
    format: str
    text: str
    buttons: tuple[TemplateButton, ...]

    @classmethod
    def from_graph(cls, body: Body) -> "TemplateComponent":
        return cls(
            type=_str(body, "type"),
            format=_str(body, "format"),
            text=_str(body, "text"),
            buttons=tuple(
                TemplateButton(
                    type=_str(b, "type"),
                    text=_str(b, "text"),
                    url=_str(b, "url"),
                    phone_number=_str(b, "phone_number"),
                )
                for b in _list(body, "buttons")
                if isinstance(b, Mapping)
            ),
        )


@dataclass(frozen=True)
class MessageTemplate:
    """A message template of a WABA, as Meta lists it."""

    id: str
    name: str
    language: str
    status: str
    category: str
    rejected_reason: str
    components: tuple[TemplateComponent, ...]
    # The components as Meta sent them (examples, formats, buttons), for storing as they are.
    raw_components: tuple[Body, ...] = ()
    parameter_format: str = ""
    quality_score: str = ""

    @classmethod
    def from_graph(cls, body: Body) -> "MessageTemplate":
        raw = tuple(dict(c) for c in _list(body, "components") if isinstance(c, Mapping))
        return cls(
            id=_require(body, "id"),
            name=_str(body, "name"),
            language=_str(body, "language"),
            status=_str(body, "status"),
            category=_str(body, "category"),
            rejected_reason=_str(body, "rejected_reason"),
            components=tuple(TemplateComponent.from_graph(c) for c in raw),
            raw_components=raw,
            parameter_format=_str(body, "parameter_format"),
            quality_score=_str(_dict(body, "quality_score"), "score"),
        )


@dataclass(frozen=True)
class TemplatePage:
    """One page of templates; `after` is the cursor of the next page, empty on the last."""

    templates: tuple[MessageTemplate, ...]
    after: str

    @classmethod
    def from_graph(cls, body: Body) -> "TemplatePage":
        paging = _dict(body, "paging")
        has_next = bool(paging.get("next"))
        return cls(
            templates=tuple(
                MessageTemplate.from_graph(t) for t in _list(body, "data") if isinstance(t, Mapping)
            ),
            after=_str(_dict(paging, "cursors"), "after") if has_next else "",
        )


@dataclass(frozen=True)
class CreatedTemplate:
    """Meta's answer to a template creation: its id and first status (usually PENDING)."""

    id: str
    status: str
    category: str

    @classmethod
    def from_graph(cls, body: Body) -> "CreatedTemplate":
        return cls(
            id=_require(body, "id"), status=_str(body, "status"), category=_str(body, "category")
        )


@dataclass(frozen=True)
class MediaInfo:
    """Where to download a media object (the URL needs the token and expires in minutes)."""

    id: str
    url: str = field(repr=False)
    mime_type: str
    sha256: str
    file_size: int | None

    @classmethod
    def from_graph(cls, body: Body) -> "MediaInfo":
        size = body.get("file_size")
        return cls(
            id=_require(body, "id"),
            url=_require(body, "url"),
            mime_type=_str(body, "mime_type"),
            sha256=_str(body, "sha256"),
            file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )
