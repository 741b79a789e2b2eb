"""Inbound media: fetched from Meta at once (Graph `GET /{media_id}`, then the download with the
token; both faked with `responses`), stored in our storage, served at our stable authenticated
URL, which the Tech Provider's event carries."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from messaging.models import Delivery, InboundMedia
from messaging.services.media import inbound_media_fetch
from messaging.services.processing import webhook_events_process
from tests.conftest import Account
from tests.messaging.conftest import PHONE_ID, WABA_ID, entry_doc, post_meta
from tests.messaging.sending import CUSTOMER, GRAPH, graph, graph_error, sending_waba

pytestmark = pytest.mark.django_db
__all__ = ["graph"]  # the fixture

MEDIA_ID = "1013859600285441"
PNG = bytes.fromhex("89504e470d0a1a0a") + b"picture bytes"
DOWNLOAD = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1013859600285441&ext=1"


@pytest.fixture
def storage(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def inbound_image(account: Account, *, sha256: str | None = None) -> None:
    if not account.tech_provider.wabas.exists():
        sending_waba(account.tech_provider)
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Asha"}, "wa_id": CUSTOMER}],
        "messages": [
            {
                "from": CUSTOMER,
                "id": "wamid.IMG",
                "timestamp": "1794816000",
                "type": "image",
                "image": {
                    "mime_type": "image/png",
                    "sha256": sha256 or hashlib.sha256(PNG).hexdigest(),
                    "id": MEDIA_ID,
                    "caption": "my order",
                },
            }
        ],
    }
    post_meta(Client(), entry_doc((WABA_ID, "messages", value)))
    webhook_events_process()


def meta_serves(graph: Any, content: bytes = PNG) -> None:
    graph.get(
        f"{GRAPH}/{MEDIA_ID}",
        json={
            "url": DOWNLOAD,
            "mime_type": "image/png",
            "sha256": hashlib.sha256(content).hexdigest(),
            "file_size": len(content),
            "id": MEDIA_ID,
            "messaging_product": "whatsapp",
        },
    )
    graph.get(DOWNLOAD, body=content, content_type="image/png")


def test_the_event_carries_our_url_and_the_media_is_stored_and_served(
    api: APIClient, account: Account, storage: Path, graph: Any
) -> None:
    meta_serves(graph)
    inbound_image(account)
    our_url = f"http://127.0.0.1:8000/v1/Account/{account.auth_id}/WhatsApp/Media/{MEDIA_ID}/"
    delivery = Delivery.objects.get(event_type="message.received")
    image = json.loads(delivery.body)["data"]["messages"][0]["image"]
    assert image == {
        "mime_type": "image/png",
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "id": MEDIA_ID,
        "caption": "my order",
        "platform_url": our_url,
    }
    assert InboundMedia.objects.get().state == "pending"

    assert inbound_media_fetch() == 1
    media = InboundMedia.objects.get()
    assert (media.state, media.file_size, media.mime_type) == ("stored", len(PNG), "image/png")
    assert (storage / media.storage_name).read_bytes() == PNG
    download = graph.calls[1].request
    assert download.headers["Authorization"].startswith("Bearer ")  # the token, not the TP

    response = api.get(account.url(f"WhatsApp/Media/{MEDIA_ID}/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]


def test_only_its_tech_provider_can_read_it(
    account: Account, other_account: Account, storage: Path, graph: Any
) -> None:
    meta_serves(graph)
    inbound_image(account)
    inbound_media_fetch()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=other_account.basic)
    response = other.get(other_account.url(f"WhatsApp/Media/{MEDIA_ID}/"))
    assert response.status_code == 404
    assert response.json()["error"] == "Media not found."
    assert APIClient().get(account.url(f"WhatsApp/Media/{MEDIA_ID}/")).status_code == 401


def test_before_it_is_stored_the_url_says_to_retry(
    api: APIClient, account: Account, storage: Path
) -> None:
    inbound_image(account)
    response = api.get(account.url(f"WhatsApp/Media/{MEDIA_ID}/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert set(response.json()) == {"api_id", "error"}


def test_a_transient_graph_error_is_retried_later(
    account: Account, storage: Path, graph: Any
) -> None:
    graph.get(f"{GRAPH}/{MEDIA_ID}", **graph_error(2, "Service temporarily unavailable", 503))
    inbound_image(account)
    assert inbound_media_fetch() == 0
    media = InboundMedia.objects.get()
    assert (media.state, media.attempts) == ("pending", 1)
    assert media.next_attempt_at is not None
    assert "Service temporarily unavailable" in media.last_error


def test_a_download_that_does_not_match_metas_hash_is_not_stored(
    account: Account, storage: Path, graph: Any
) -> None:
    meta_serves(graph, content=b"something else")
    inbound_image(account, sha256=hashlib.sha256(PNG).hexdigest())
    inbound_media_fetch()
    media = InboundMedia.objects.get()
    assert media.state == "pending"
    assert "sha256" in media.last_error
    assert not list(storage.rglob("*.png"))


def test_a_permanent_error_fails_it_and_the_url_says_so(
    api: APIClient, account: Account, storage: Path, graph: Any
) -> None:
    graph.get(f"{GRAPH}/{MEDIA_ID}", **graph_error(100, "Unsupported get request"))
    inbound_image(account)
    inbound_media_fetch()
    assert InboundMedia.objects.get().state == "failed"
    response = api.get(account.url(f"WhatsApp/Media/{MEDIA_ID}/"))
    assert response.status_code == 404
    assert response.json()["error"].startswith("The media could not be fetched from Meta")


def test_a_duplicated_webhook_makes_one_media_row(account: Account, storage: Path) -> None:
    inbound_image(account)
    inbound_image(account)
    assert InboundMedia.objects.count() == 1
