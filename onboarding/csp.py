"""Content-Security-Policy for the pages we serve to customers: a nonce per response.

Only our static files, Meta's SDK origins (and the sandbox's origin when it is on) may run or be
framed; nothing may frame us; inline script runs only with the response's nonce.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse

META_SCRIPT = "https://connect.facebook.net"
META_FRAMES = (
    "https://www.facebook.com",
    "https://web.facebook.com",
    "https://business.facebook.com",
    "https://staticxx.facebook.com",
)
META_CONNECT = ("https://graph.facebook.com", "https://www.facebook.com", META_SCRIPT)
REPORT_PATH = "/connect/csp-report/"


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def sandbox_origin() -> str:
    """The sandbox's origin (where its SDK stand-in and dialog are served), or ''."""
    if not settings.SANDBOX_ENABLED:
        return ""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def policy(nonce: str) -> str:
    extra = f" {sandbox_origin()}" if sandbox_origin() else ""
    directives = [
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}' {META_SCRIPT}{extra}",
        "style-src 'self'",
        f"img-src 'self' data: https://www.facebook.com{extra}",
        f"connect-src 'self' {' '.join(META_CONNECT)}{extra}",
        f"frame-src {' '.join(META_FRAMES)}{extra}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
        f"report-uri {REPORT_PATH}",
    ]
    return "; ".join(directives)


def apply(response: HttpResponse, nonce: str) -> HttpResponse:
    response["Content-Security-Policy"] = policy(nonce)
    response["Referrer-Policy"] = "strict-origin-when-cross-origin"
    # Meta's dialog posts back to its opener, so the opener must keep its window reference.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response
