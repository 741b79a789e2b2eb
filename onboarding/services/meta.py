"""Which token a Graph call uses: the customer's business token where the signup gave us one,
our system user token otherwise, and always ours for the credit line (meta-platform.md 2.1, 5).
"""

from django.conf import settings

from onboarding.graph import GraphClient
from onboarding.models import WhatsAppBusinessAccount


def graph_client_for_waba(waba: WhatsAppBusinessAccount) -> GraphClient:
    """A client acting on the customer's assets: their business token, else our system user's."""
    return GraphClient(waba.business_token or settings.META_SYSTEM_USER_TOKEN)


def graph_client_for_system() -> GraphClient:
    """A client acting as our system user (credit line calls)."""
    return GraphClient(settings.META_SYSTEM_USER_TOKEN)


def token_kind(waba: WhatsAppBusinessAccount) -> str:
    """'business' or 'system': whose token graph_client_for_waba uses, for error reasons."""
    return "business" if waba.business_token else "system"


def waba_callback_url(waba: WhatsAppBusinessAccount) -> str:
    """The WABA's own webhook URL on our platform (its override_callback_uri at Meta)."""
    return settings.PUBLIC_BASE_URL + settings.WABA_WEBHOOK_PATH.format(waba_id=waba.waba_id)
