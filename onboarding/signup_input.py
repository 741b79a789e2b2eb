"""Validation of an Embedded Signup submission, in the documented order with its exact messages.

Shared by the REST EmbeddedSignup API and the hosted Connect page's endpoint.
"""

import re
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from onboarding.errors import SignupRejected

_META_ID = re.compile(r"^[0-9]{6,32}$")
REFERENCE_MAX = 64
# What str.strip() removes, so the documented pattern is exactly what _text() accepts.
_SPACE = "[" + "".join(re.escape(c) for c in map(chr, range(0x3001)) if c.isspace()) + "]*"
META_ID_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": f"^{_SPACE}[0-9]{{6,32}}{_SPACE}$"},
        {"type": "integer", "minimum": 100000},
    ],
    "description": "A Meta id: 6 to 32 digits, as a string or an integer.",
}
REFERENCE_SCHEMA = {
    "anyOf": [
        {"type": "string", "maxLength": REFERENCE_MAX},
        {"type": "integer", "minimum": -(10**63) + 1, "maximum": 10**64 - 1},
        {"type": "boolean"},
    ],
    "nullable": True,
    "description": f"Your own id for this customer, at most {REFERENCE_MAX} characters.",
}


@extend_schema_field(META_ID_SCHEMA)
class _MetaIdField(serializers.Field):  # type: ignore[type-arg]
    pass


@extend_schema_field(REFERENCE_SCHEMA)
class _ReferenceField(serializers.Field):  # type: ignore[type-arg]
    pass


class EmbeddedSignupInput(serializers.Serializer[Any]):
    """The documented body of POST EmbeddedSignup (signup_input_validate does the checking)."""

    waba_id = _MetaIdField()
    business_id = _MetaIdField()
    phone_number_id = _MetaIdField()
    reference = _ReferenceField(required=False)


@dataclass(frozen=True)
class SignupInput:
    waba_id: str
    business_id: str
    phone_number_id: str | None
    reference: str


def _text(data: Any, name: str) -> str:
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return "" if value is None else "invalid"
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) else "invalid"


def signup_input_validate(data: Any, *, require_phone_number: bool = True) -> SignupInput:
    """Clean the submitted ids; raise SignupRejected with the first problem found."""
    if not hasattr(data, "get"):  # a JSON list, string or number: was a 500 (found by fuzzing)
        raise SignupRejected("The request body must be an object (waba_id, business_id, ...).")
    waba_id, business_id = _text(data, "waba_id"), _text(data, "business_id")
    phone_number_id = _text(data, "phone_number_id")
    reference = data.get("reference")
    if not waba_id:
        raise SignupRejected("waba_id is required.")
    if not business_id:
        raise SignupRejected("business_id is required.")
    if not phone_number_id and require_phone_number:
        raise SignupRejected("phone_number_id is required.")
    if not _META_ID.match(waba_id):
        raise SignupRejected("waba_id is not a valid WhatsApp Business Account ID.")
    if not _META_ID.match(business_id):
        raise SignupRejected("business_id is not a valid Meta Business ID.")
    if phone_number_id and not _META_ID.match(phone_number_id):
        raise SignupRejected("phone_number_id is not a valid phone number ID.")
    if reference is not None and not isinstance(reference, str | int):
        raise SignupRejected("reference must be a string.")
    reference = "" if reference is None else str(reference).strip()
    if "\x00" in reference:  # PostgreSQL text cannot hold it (was a 500, found by fuzzing)
        raise SignupRejected("reference must not contain NUL characters.")
    if len(reference) > REFERENCE_MAX:
        raise SignupRejected(f"reference must be at most {REFERENCE_MAX} characters.")
    return SignupInput(waba_id, business_id, phone_number_id or None, reference)
