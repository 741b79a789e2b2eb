"""Media: uploads, customers' attachments, and short-lived download URLs that need a token."""

import hashlib
import time
from urllib.parse import urlencode

from django.utils.crypto import constant_time_compare, salted_hmac

from sandbox import clock, ids
from sandbox.models import SandboxMedia, SandboxPhoneNumber

URL_TTL_S = 300  # Meta's media URLs last five minutes
DOWNLOAD_PATH = "/sandbox/lookaside/whatsapp_business/attachments/"
MAX_BYTES = 100 * 1024 * 1024
# A 1x1 PNG: what an injected inbound image carries when no content is given.
PLACEHOLDER_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def media_create(
    *, phone: SandboxPhoneNumber, content: bytes, mime_type: str, filename: str = ""
) -> SandboxMedia:
    return SandboxMedia.objects.create(
        media_id=ids.new_id(),
        phone_number=phone,
        mime_type=mime_type,
        sha256=hashlib.sha256(content).hexdigest(),
        file_size=len(content),
        filename=filename,
        content=content,
    )


def media_delete(*, media: SandboxMedia) -> None:
    media.deleted_at = clock.now()
    media.save(update_fields=["deleted_at", "updated_at"])


def _signature(media_id: str, expires: int) -> str:
    return salted_hmac("sandbox-media", f"{media_id}:{expires}", algorithm="sha256").hexdigest()


def media_download_url(*, media: SandboxMedia, origin: str) -> str:
    """An absolute URL valid for five minutes; the download also needs an access token."""
    expires = int(time.time()) + URL_TTL_S
    query = urlencode(
        {"mid": media.media_id, "ext": expires, "hash": _signature(media.media_id, expires)}
    )
    return f"{origin}{DOWNLOAD_PATH}?{query}"


def media_url_valid(*, media_id: str, expires: str, signature: str) -> bool:
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return constant_time_compare(signature, _signature(media_id, int(expires)))
