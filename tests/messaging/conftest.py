"""Fixtures for messaging: signed Meta posts, WABAs with numbers, a live receiver."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from messaging.signing import meta_signature
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount
from tests.conftest import Account, make_account
from tests.messaging.receiver import Receiver

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"
WABA_ID = "111111111111111"
PHONE_ID = "444444444444444"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def encode(document: Any) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document).encode()


def post_meta(
    client: Client,
    document: Any,
    path: str = "/webhooks/meta/",
    secret: str | None = None,
    signature: str | None = None,
) -> Any:
    body = encode(document)
    if signature is None:
        signature = meta_signature(body, secret or settings.META_APP_SECRET[0])
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    return client.post(path, data=body, content_type="application/json", headers=headers)


def make_waba(
    tech_provider: TechProvider,
    waba_id: str = WABA_ID,
    phone_number_id: str | None = PHONE_ID,
    display: str = "15550001111",
) -> WhatsAppBusinessAccount:
    waba = WhatsAppBusinessAccount.objects.create(
        tech_provider=tech_provider,
        waba_id=waba_id,
        business_id="203456789012345",
        status=WhatsAppBusinessAccount.Status.ACTIVE,
    )
    if phone_number_id:
        PhoneNumber.objects.create(
            waba=waba,
            phone_number_id=phone_number_id,
            display_phone_number=display,
            registration=PhoneNumber.Registration.REGISTERED,
        )
    return waba


def entry_doc(*changes: tuple[str, str, dict[str, Any]], time: int | None = None) -> dict[str, Any]:
    """A Meta document with one entry per (entry id, field, value)."""
    entries = []
    for entry_id, field, value in changes:
        entry: dict[str, Any] = {"id": entry_id, "changes": [{"field": field, "value": value}]}
        if time is not None:
            entry["time"] = time
        entries.append(entry)
    return {"object": "whatsapp_business_account", "entry": entries}


def status_value(
    wamid: str, status: str, ts: int, phone_number_id: str = PHONE_ID
) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        "statuses": [
            {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": "919800000001"}
        ],
    }


def message_value(
    wamid: str, sender: str, ts: int, phone_number_id: str = PHONE_ID
) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Asha"}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": wamid,
                "timestamp": str(ts),
                "type": "text",
                "text": {"body": "héllo ✓"},
            }
        ],
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def loopback(settings: Any) -> None:
    """Let deliveries reach the local receiver (loopback and http are refused by default)."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_ALLOW_HTTP = True


@pytest.fixture
def tp_with_endpoint(db: None, loopback: None, receiver: Receiver) -> Account:
    account = make_account("Hooked ISV")
    TechProvider.objects.filter(pk=account.tech_provider.pk).update(webhook_url=receiver.url())
    account.tech_provider.refresh_from_db()
    return account
