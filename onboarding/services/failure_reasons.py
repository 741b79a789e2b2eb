"""Reasons a person can act on, for the Meta errors that stop an onboarding or make it wait."""

from onboarding.graph import GraphAuthError, GraphError, GraphPermissionError

_BY_CODE = {
    133005: (
        "This number already has a two-step verification PIN: the customer must turn it off in "
        "WhatsApp Manager (Phone numbers > Settings > Two-step verification), then retry."
    ),
    133006: (
        "Meta needs this phone number re-verified: the customer must verify it again with an SMS "
        "or voice code in WhatsApp Manager, then retry."
    ),
    133000: (
        "A previous deregistration of this number did not complete: deregister it, then retry."
    ),
    133010: "Meta says this phone number is not registered: retry to register it again.",
    131031: "Meta has locked this WhatsApp Business account: the customer must contact Meta.",
    131042: (
        "Meta reports a payment or eligibility problem on this account (no payment method, or "
        "the credit line is over its limit): fix billing, then retry."
    ),
    131045: "Meta reports a certificate or registration problem with this number: retry.",
    133016: (
        "Meta's limit of 10 register/deregister calls per number in 72 hours was reached: the "
        "step resumes by itself when the block ends."
    ),
    133008: "Too many two-step PIN attempts on this number: the step resumes by itself later.",
    133009: "The two-step PIN was tried too fast: the step resumes by itself later.",
    133015: "Meta is still processing a recent deletion of this number: the step resumes later.",
    368: "Meta has blocked this account for a while (policy violation): the step resumes later.",
}


def failure_reason(step: str, error: GraphError, *, token_owner: str) -> str:
    """An actionable sentence for `error` from `step`; `token_owner` is "business" or "system"."""
    text = _BY_CODE.get(error.code) if error.code is not None else None
    if text is None and isinstance(error, GraphAuthError):
        text = (
            "The customer's business token is invalid or expired: the customer must complete "
            "the Embedded Signup again."
            if token_owner == "business"  # noqa: S105 - a label, not a secret
            else "Our system user token is invalid or expired: staff must set a new "
            "META_SYSTEM_USER_TOKEN, then retry."
        )
    if text is None and isinstance(error, GraphPermissionError):
        text = (
            "Meta refused for lack of permission: check that the WABA is shared with our app "
            "(whatsapp_business_management and whatsapp_business_messaging) and, for the credit "
            "line, that our system user is assigned to the WABA; then retry."
        )
    if text is None:
        text = "Fix the cause, then retry."
    code = f" {error.code}" if error.code is not None else ""
    return f"{step}: Meta error{code} ({error.message}). {text}"
