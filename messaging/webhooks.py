"""Meta's webhook endpoints: the verification handshake (GET) and signed event ingest (POST).

Served at /webhooks/meta/ (app level: template and account events always come here) and at each
WABA's override URL, settings.WABA_WEBHOOK_PATH. Before answering 200 a POST is only checked
(size, then X-Hub-Signature-256 over the raw bytes against every META_APP_SECRET) and its raw
body stored with one autocommit INSERT; nothing is parsed here. Splitting it into events,
routing and forwarding happen later in workers. A refused POST stores and queues nothing.
"""

import hmac
import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from messaging.models import WebhookPayload
from messaging.services.ingest import webhook_payload_ingest
from messaging.services.nudge import PROCESS_EVENTS, nudge
from messaging.signing import meta_signature_valid
from onboarding import selectors as onboarding_selectors
from onboarding.models import META_ID_REGEX

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"
_CHALLENGE_MAX = 512


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _handshake(request: HttpRequest, tokens: list[str]) -> HttpResponse:
    """200 with hub.challenge as the raw body when mode and verify token match, else 403."""
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    token_ok = any(t and hmac.compare_digest(t.encode(), token.encode()) for t in tokens)
    if mode != "subscribe" or not token_ok or not challenge or len(challenge) > _CHALLENGE_MAX:
        return _text(403, "Verification failed.")
    return _text(200, challenge)


def _ingest(request: HttpRequest, source: str, path_waba_id: str = "") -> HttpResponse:
    limit = int(settings.META_WEBHOOK_MAX_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _text(400, "Bad Content-Length.")
    if declared > limit:
        return _text(413, f"Bodies over {limit} bytes are refused.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _text(413, f"Bodies over {limit} bytes are refused.")
    app_secrets = list(settings.META_APP_SECRET)
    if not app_secrets:
        logger.error("META_APP_SECRET is empty: every Meta webhook is refused")
        return _text(403, "Signature cannot be verified.")
    header = request.META.get(SIGNATURE_HEADER, "")
    if not header:
        return _text(401, "X-Hub-Signature-256 is missing.")
    if not meta_signature_valid(body, header, app_secrets):
        return _text(403, "X-Hub-Signature-256 does not match.")
    webhook_payload_ingest(body=body, source=source, path_waba_id=path_waba_id)
    nudge(PROCESS_EVENTS)
    return _text(200, "OK")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest) -> HttpResponse:
    """The app-level callback URL."""
    if request.method == "GET":
        return _handshake(request, [settings.META_WEBHOOK_VERIFY_TOKEN])
    return _ingest(request, WebhookPayload.Source.APP)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def waba_webhook(request: HttpRequest, waba_id: str) -> HttpResponse:
    """A WABA's override callback URL; its handshake uses that WABA's own verify token."""
    if not re.fullmatch(META_ID_REGEX, waba_id):
        return _text(404, "Unknown WABA.")
    if request.method == "GET":
        waba = onboarding_selectors.waba_get_by_waba_id(waba_id)
        if waba is None:
            return _text(403, "Verification failed.")
        token = waba.webhook_verify_token or settings.META_WEBHOOK_VERIFY_TOKEN
        return _handshake(request, [token])
    return _ingest(request, WebhookPayload.Source.WABA, waba_id)
