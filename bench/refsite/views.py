"""Reference handler C of perf-anchors.md: read the raw body, verify X-Hub-Signature-256 in
constant time, store the body with one autocommit INSERT (a durable commit), answer 200."""

import hashlib
import hmac
import os

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from bench.refsite.models import RefEvent

_SECRET = os.environ["META_APP_SECRET"].encode()


@csrf_exempt
def ingest(request: HttpRequest) -> HttpResponse:
    body = request.body
    sig = request.META.get("HTTP_X_HUB_SIGNATURE_256", "")
    expected = "sha256=" + hmac.new(_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sig):
        return HttpResponse(b"bad signature", status=403)
    RefEvent._default_manager.create(received_at=timezone.now(), signature=sig, body=body)
    return HttpResponse(b"ok")
