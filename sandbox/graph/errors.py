"""Meta's error envelope and HTTP statuses, and the catalogue of errors the simulator raises.

Meta classifies by `error.code`, not by HTTP status: throttling (4, 80007, 130429) answers 400,
190 answers 401, 10 and 200-299 answer 403, 2 and 133004 answer 503, 131000 answers 500.
"""

from dataclasses import dataclass
from typing import Any

ERROR_CODES_HREF = (
    "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes"
)


@dataclass(frozen=True)
class Spec:
    message: str
    http_status: int = 400
    type: str = "OAuthException"
    details: str = ""


CATALOGUE: dict[int, Spec] = {
    1: Spec("An unknown error occurred", 500),
    2: Spec("An unexpected error has occurred. Please retry your request later.", 503),
    3: Spec("(#3) Application does not have the capability to make this API call."),
    4: Spec("(#4) Application request limit reached"),
    10: Spec("(#10) Application does not have permission for this action", 403),
    17: Spec("(#17) User request limit reached"),
    100: Spec("(#100) Invalid parameter"),
    190: Spec("Invalid OAuth access token - Cannot parse access token", 401),
    200: Spec("(#200) Permissions error", 403),
    341: Spec("(#341) Application limit reached"),
    368: Spec("(#368) Temporarily blocked for policies violations"),
    613: Spec("(#613) Calls to this api have exceeded the rate limit."),
    2200: Spec("(#2200) Callback verification failed"),
    2500: Spec("Unknown path components", 400),
    80007: Spec("(#80007) Rate limit issues"),
    80008: Spec("(#80008) Rate limit hit for the WhatsApp Business Management API"),
    130429: Spec(
        "(#130429) Rate limit hit",
        details="Cloud API message throughput has been reached.",
    ),
    131000: Spec("(#131000) Something went wrong", 500),
    131008: Spec("(#131008) Required parameter is missing"),
    131009: Spec("(#131009) Parameter value is not valid"),
    131016: Spec("(#131016) Service unavailable", 503),
    131026: Spec("(#131026) Message undeliverable"),
    131031: Spec("(#131031) Business Account locked"),
    131042: Spec("(#131042) Business eligibility payment issue"),
    131047: Spec(
        "(#131047) Re-engagement message",
        details="Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    ),
    131049: Spec(
        "(#131049) This message was not delivered to maintain healthy ecosystem engagement."
    ),
    131050: Spec(
        "(#131050) Unable to deliver the message. This recipient has chosen to stop "
        "receiving marketing messages on WhatsApp from your business."
    ),
    131051: Spec("(#131051) Unsupported message type"),
    131053: Spec("(#131053) Media upload error"),
    131056: Spec(
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        details="Too many messages sent from the sender phone number to the same recipient "
        "phone number in a short period of time.",
    ),
    131057: Spec("(#131057) Business Account is in maintenance mode", 503),
    132000: Spec("(#132000) Number of parameters does not match the expected number of params"),
    132001: Spec("(#132001) Template name does not exist in the translation", 404),
    132015: Spec("(#132015) Template is Paused"),
    132016: Spec("(#132016) Template is Disabled"),
    133000: Spec("(#133000) Incomplete deregistration", 500),
    133004: Spec("(#133004) Server temporarily unavailable", 503),
    133005: Spec("(#133005) Two step verification PIN Mismatch"),
    133006: Spec("(#133006) Phone number re-verification needed"),
    133008: Spec("(#133008) Too many two step verification PIN guesses for this phone number"),
    133009: Spec("(#133009) Two step verification PIN was entered too quickly"),
    133010: Spec("(#133010) Account not registered"),
    133015: Spec(
        "(#133015) Please wait a few minutes before attempting to register this phone number"
    ),
    133016: Spec(
        "(#133016) Account register deregister rate limit exceeded",
        details="Registration or Deregistration failed because there were too many attempts for "
        "this phone number in a short period of time",
    ),
}

# Codes whose envelope carries WhatsApp's error_data (the Cloud API family).
_WHATSAPP_RANGE = range(130000, 140000)


class GraphError(Exception):
    """An error the simulator answers in Meta's envelope."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        error_type: str | None = None,
        user_title: str = "",
        user_msg: str = "",
    ) -> None:
        spec = CATALOGUE.get(code, Spec(f"(#{code}) Error"))
        self.code = code
        self.subcode = subcode
        self.message = message or spec.message
        self.http_status = http_status or spec.http_status
        self.details = spec.details if details is None else details
        self.type = error_type or spec.type
        self.user_title = user_title
        self.user_msg = user_msg
        super().__init__(self.message)

    def envelope(self, fbtrace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title:
            error["is_transient"] = False
            error["error_user_title"] = self.user_title
            error["error_user_msg"] = self.user_msg
        if self.code in _WHATSAPP_RANGE or self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def invalid_parameter(message: str, **kwargs: Any) -> GraphError:
    """Meta's catch-all #100, with the parameter named in the message."""
    return GraphError(100, f"(#100) {message}", **kwargs)


def missing_object(object_id: str, method: str) -> GraphError:
    """What Meta answers for an id that does not exist or that the token may not see."""
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation. "
        "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        error_type="GraphMethodException",
    )


def permission_denied() -> GraphError:
    return GraphError(200)
