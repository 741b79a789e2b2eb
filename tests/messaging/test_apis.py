"""The Tech Provider webhook API: callback URL, secret rotation, the delivery log, replays."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from messaging import ssrf
from messaging.models import Delivery
from messaging.services.deliveries import tech_provider_event_deliver
from messaging.services.pump import deliveries_pump
from onboarding.models import TechProvider
from tests.conftest import Account, make_account
from tests.messaging.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked_api(tp_with_endpoint: Account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=tp_with_endpoint.basic)
    return client


def deliver(account: Account, key: str) -> Delivery:
    tech_provider = TechProvider.objects.get(pk=account.tech_provider.pk)
    return tech_provider_event_deliver(
        tech_provider=tech_provider, event_type="test.ping", data={"k": key}, key=key
    )


def test_it_sets_and_shows_the_callback_url(
    api: APIClient, account: Account, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBHOOK_ALLOW_HTTP = False
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])
    url = account.url("WhatsApp/Webhook/")
    response = api.post(url, {"url": "https://hooks.example.com/wa"}, format="json")
    assert response.status_code == 200
    body = api.get(url).json()
    assert body["url"] == "https://hooks.example.com/wa"
    assert body["enabled"] is True
    assert "secret" not in body
    assert set(body) >= {"api_id", "disabled_at", "signature_scheme"}


def test_it_explains_a_refused_url(api: APIClient, account: Account, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_HTTP = False
    response = api.post(
        account.url("WhatsApp/Webhook/"), {"url": "http://x.example.com"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "url is not allowed: The URL must start with https://."
    missing = api.post(account.url("WhatsApp/Webhook/"), {}, format="json")
    assert missing.json()["error"] == "url: This field is required."


def test_setting_the_url_again_re_enables_a_disabled_endpoint(
    hooked_api: APIClient, tp_with_endpoint: Account, receiver: Receiver
) -> None:
    TechProvider.objects.filter(pk=tp_with_endpoint.tech_provider.pk).update(
        webhook_disabled_at=timezone.now(), webhook_disabled_reason="410"
    )
    url = tp_with_endpoint.url("WhatsApp/Webhook/")
    assert hooked_api.get(url).json()["enabled"] is False
    hooked_api.post(url, {"url": receiver.url()}, format="json")
    assert hooked_api.get(url).json()["enabled"] is True


def test_it_rotates_the_secret_and_shows_it_once(
    hooked_api: APIClient, tp_with_endpoint: Account, receiver: Receiver
) -> None:
    url = tp_with_endpoint.url("WhatsApp/Webhook/Secret/")
    rotated = hooked_api.post(url, {"grace_seconds": 600}, format="json").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["previous_secret_expires_at"]
    deliver(tp_with_endpoint, "a")
    deliveries_pump(budget_s=5)
    assert receiver.verify(receiver.received[0], rotated["secret"])
    own = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"
    chosen = hooked_api.post(url, {"secret": own, "grace_seconds": 0}, format="json").json()
    assert chosen["secret"] == own
    assert chosen["previous_secret_expires_at"] is None
    bad = hooked_api.post(url, {"secret": "whsec_c2hvcnQ="}, format="json")
    assert bad.status_code == 400
    assert "24 to 64 bytes" in bad.json()["error"]


def test_it_lists_deliveries_with_their_attempts(
    hooked_api: APIClient, tp_with_endpoint: Account, receiver: Receiver
) -> None:
    receiver.reply = lambda request: Reply(500)
    for key in ("a", "b", "c"):
        deliver(tp_with_endpoint, key)
    deliveries_pump(budget_s=5)
    url = tp_with_endpoint.url("WhatsApp/Webhook/Delivery/")
    body = hooked_api.get(url, {"limit": 2}).json()
    assert body["meta"]["total_count"] == 3
    assert body["meta"]["next"] is not None
    first = body["objects"][0]
    assert first["state"] == "pending"
    assert first["attempts"][0]["status_code"] == 500
    assert first["attempts"][0]["outcome"] == "http_error"
    detail = hooked_api.get(f"{url}{first['webhook_id']}/").json()
    assert detail["payload"]["id"] == first["webhook_id"]
    filtered = hooked_api.get(url, {"state": "succeeded"}).json()
    assert filtered["meta"]["total_count"] == 0
    assert hooked_api.get(url, {"state": "nope"}).status_code == 400


def test_another_tech_providers_delivery_answers_like_a_missing_one(
    hooked_api: APIClient, tp_with_endpoint: Account
) -> None:
    other = make_account("Other ISV")
    theirs = tech_provider_event_deliver(tech_provider=other.tech_provider, event_type="x", data={})
    base = tp_with_endpoint.url("WhatsApp/Webhook/Delivery/")
    for response in (
        hooked_api.get(f"{base}{theirs.webhook_id}/"),
        hooked_api.post(f"{base}{theirs.webhook_id}/Replay/"),
        hooked_api.get(f"{base}evt_missing/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "Delivery not found."


def test_replaying_one_resends_the_same_id_with_a_fresh_signature(
    hooked_api: APIClient, tp_with_endpoint: Account, receiver: Receiver
) -> None:
    delivery = deliver(tp_with_endpoint, "a")
    deliveries_pump(budget_s=5)
    url = tp_with_endpoint.url(f"WhatsApp/Webhook/Delivery/{delivery.webhook_id}/Replay/")
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=True):
        response = hooked_api.post(url)
        assert response.status_code == 202
        assert response.json()["state"] == "pending"
        deliveries_pump(budget_s=5)
        first, second = receiver.received
        secret = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk).webhook_secret
        assert receiver.verify(second, secret)["id"] == delivery.webhook_id
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.webhook_id
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"]) + 29
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.replays) == ("succeeded", 1)


def test_replaying_since_a_time_resends_only_failed_and_dead_ones(
    hooked_api: APIClient, tp_with_endpoint: Account, receiver: Receiver
) -> None:
    old, failed, dead, fine = (deliver(tp_with_endpoint, k) for k in ("old", "f", "d", "ok"))
    Delivery.objects.filter(pk=old.pk).update(
        state="dead", created_at=timezone.now() - timedelta(days=2)
    )
    Delivery.objects.filter(pk=failed.pk).update(state="failed")
    Delivery.objects.filter(pk=dead.pk).update(state="dead")
    Delivery.objects.filter(pk=fine.pk).update(state="succeeded")
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    url = tp_with_endpoint.url("WhatsApp/Webhook/Replay/")
    response = hooked_api.post(url, {"since": since}, format="json")
    assert response.status_code == 202
    assert response.json()["count"] == 2
    deliveries_pump(budget_s=5)
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(
        [failed.webhook_id, dead.webhook_id]
    )
    assert hooked_api.post(url, {"since": "yesterday"}, format="json").status_code == 400


def test_replay_is_refused_while_the_endpoint_is_disabled(
    hooked_api: APIClient, tp_with_endpoint: Account
) -> None:
    delivery = deliver(tp_with_endpoint, "a")
    TechProvider.objects.filter(pk=tp_with_endpoint.tech_provider.pk).update(
        webhook_disabled_at=timezone.now()
    )
    url = tp_with_endpoint.url(f"WhatsApp/Webhook/Delivery/{delivery.webhook_id}/Replay/")
    response = hooked_api.post(url)
    assert response.status_code == 400
    assert "disabled" in response.json()["error"]
