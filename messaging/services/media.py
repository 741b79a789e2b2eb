"""Inbound media: what customers send is fetched from Meta at once and kept in our storage.

Meta's media URLs expire within minutes and need the business token, so a Tech Provider cannot
be handed them. While events are processed, every media object of an inbound message gets an
InboundMedia row (pending) and the Tech Provider's event carries our URL for it in the media
object's `platform_url`: `{PUBLIC_BASE_URL}/v1/Account/{auth_id}/WhatsApp/Media/{media_id}/`,
stable and behind the API's Basic auth. The fetch task (nudged at once; beat every 5 s) asks
Graph for the URL (`GET /{media_id}`), downloads it with the token, checks Meta's sha256, and
saves the bytes to INBOUND_MEDIA_STORAGE (a STORAGES alias; the local file system under
MEDIA_ROOT by default). Retryable Graph errors are retried with backoff in `next_attempt_at`.
"""

import hashlib
import logging
import mimetypes
import secrets
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone

from messaging.meta_events import MESSAGE_RECEIVED
from messaging.models import InboundMedia, WebhookEvent
from messaging.services.batch_effects import queue_scan_in_index_order
from messaging.services.effects import text
from messaging.services.nudge import nudge
from messaging.services.outbox import retry_delay_s
from onboarding.graph import GraphError
from onboarding.models import TechProvider, WhatsAppBusinessAccount
from onboarding.services.meta import graph_client_for_waba

logger = logging.getLogger(__name__)

FETCH_MEDIA = "messaging.inbound_media_fetch"
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
URL_KEY = "platform_url"
MAX_ATTEMPTS = 8
_BATCH = 10
_LEASE_S = 120.0
State = InboundMedia.State


def media_storage() -> Storage:
    return storages[settings.INBOUND_MEDIA_STORAGE]


def media_url(*, tech_provider: TechProvider, media_id: str) -> str:
    """Our stable URL for an inbound media object (Basic auth, like the rest of the API)."""
    path = f"/v1/Account/{tech_provider.auth_id}/WhatsApp/Media/{media_id}/"
    return settings.PUBLIC_BASE_URL + path


class MediaCollector:
    """Collects the media of a batch's inbound messages; adds our URL to their events."""

    def __init__(self) -> None:
        self.rows: dict[str, InboundMedia] = {}

    def _row(
        self,
        event: WebhookEvent,
        waba: WhatsAppBusinessAccount,
        message: dict[str, Any],
        kind: str,
        obj: dict[str, Any],
    ) -> InboundMedia:
        return InboundMedia(
            media_id=text(obj.get("id"), 64),
            tech_provider_id=waba.tech_provider_id,
            waba=waba,
            phone_number_id=event.phone_number_id[:32],
            wamid=text(message.get("id"), 128),
            kind=kind,
            mime_type=text(obj.get("mime_type"), 128),
            sha256=text(obj.get("sha256"), 128),
            filename=text(obj.get("filename"), 255),
            next_attempt_at=timezone.now(),
        )

    def _message(self, event: WebhookEvent, waba: WhatsAppBusinessAccount, message: Any) -> Any:
        kind = message.get("type") if isinstance(message, dict) else None
        obj = message.get(kind) if kind in MEDIA_KINDS else None
        if not isinstance(obj, dict) or not text(obj.get("id"), 64):
            return message
        row = self._row(event, waba, message, str(kind), obj)
        self.rows[row.media_id] = row
        url = media_url(tech_provider=waba.tech_provider, media_id=row.media_id)
        return {**message, str(kind): {**obj, URL_KEY: url}}

    def add(self, event: WebhookEvent, value: Any, waba: WhatsAppBusinessAccount) -> Any:
        """The event's value as the Tech Provider gets it (media objects carry our URL)."""
        if event.event_type != MESSAGE_RECEIVED or not isinstance(value, dict):
            return value
        messages = value.get("messages")
        if not isinstance(messages, list):
            return value
        with_urls = [self._message(event, waba, message) for message in messages]
        return {**value, "messages": with_urls} if with_urls != messages else value

    def save(self) -> None:
        if self.rows:
            InboundMedia.objects.bulk_create(list(self.rows.values()), ignore_conflicts=True)
            nudge(FETCH_MEDIA)


# ---------------------------------------------------------------- fetching


def _claim(owner: str) -> list[InboundMedia]:
    now = timezone.now()
    with transaction.atomic():
        queue_scan_in_index_order()
        ids = list(
            InboundMedia.objects.select_for_update(skip_locked=True)
            .filter(state=State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:_BATCH]
        )
        lease = now + timedelta(seconds=_LEASE_S)
        InboundMedia.objects.filter(id__in=ids).update(
            lease_owner=owner, lease_expires_at=lease, next_attempt_at=lease
        )
    return list(InboundMedia.objects.filter(id__in=ids, lease_owner=owner).select_related("waba"))


def _extension(mime_type: str, filename: str) -> str:
    if "." in filename:
        return "." + filename.rsplit(".", 1)[-1].lower()[:10]
    return mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ".bin"


def _store(media: InboundMedia, content: bytes, mime_type: str) -> str:
    extension = _extension(mime_type, media.filename)
    name = f"inbound-media/{media.waba.waba_id}/{media.media_id}{extension}"
    storage = media_storage()
    if storage.exists(name):  # a retry after the file was written
        storage.delete(name)
    return storage.save(name, ContentFile(content))


def inbound_media_fetch_one(*, media: InboundMedia, owner: str) -> bool:
    """Fetch one media object from Meta and store it; True when it is stored now."""
    client = graph_client_for_waba(media.waba)
    try:
        info = client.get_media_url(media.media_id)
        content = client.download_media(info.url, max_bytes=int(settings.INBOUND_MEDIA_MAX_BYTES))
    except GraphError as error:
        _failed(media, owner, error, retryable=error.retryable)
        return False
    digest = hashlib.sha256(content).hexdigest()
    announced = {h.lower() for h in (info.sha256, media.sha256) if h}  # the webhook's and Graph's
    if any(h != digest for h in announced):
        _failed(
            media, owner, GraphError("the download does not match Meta's sha256"), retryable=True
        )
        return False
    mime_type = info.mime_type or media.mime_type
    stored = _store(media, content, mime_type)
    now = timezone.now()
    InboundMedia.objects.filter(pk=media.pk, lease_owner=owner).update(
        state=State.STORED,
        storage_name=stored,
        mime_type=mime_type[:128],
        file_size=len(content),
        sha256=digest,
        attempts=media.attempts + 1,
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=None,
        last_error="",
        stored_at=now,
        updated_at=now,
    )
    return True


def _failed(media: InboundMedia, owner: str, error: GraphError, *, retryable: bool) -> None:
    attempts = media.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "last_error": str(error)[:2000],
        "lease_owner": "",
        "lease_expires_at": None,
        "updated_at": timezone.now(),
    }
    if retryable and attempts < MAX_ATTEMPTS:
        fields["next_attempt_at"] = timezone.now() + timedelta(seconds=retry_delay_s(attempts))
    else:
        fields.update(state=State.FAILED, next_attempt_at=None)
        logger.warning("inbound media %s could not be fetched: %s", media.media_id, error)
    InboundMedia.objects.filter(pk=media.pk, lease_owner=owner).update(**fields)


def inbound_media_fetch(*, budget_s: float = 20.0) -> int:
    """Fetch pending inbound media until none is due or the budget is spent; how many stored."""
    owner = "media-" + secrets.token_hex(8)
    deadline = time.monotonic() + budget_s
    stored = 0
    while time.monotonic() < deadline:
        batch = _claim(owner)
        if not batch:
            break
        stored += sum(inbound_media_fetch_one(media=media, owner=owner) for media in batch)
    return stored
