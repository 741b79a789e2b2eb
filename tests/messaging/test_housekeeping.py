"""Periodic work and hand-offs: onboarding's events delivered, parked expiry, silent endpoints
disabled, old payloads pruned, and nudges debounced per web process.
"""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from messaging.models import Delivery, EndpointHealth, WebhookEvent, WebhookPayload
from messaging.services import nudge
from messaging.services.deliveries import tech_provider_events_dispatch
from messaging.services.housekeeping import webhooks_housekeeping
from messaging.services.ingest import webhook_payloads_expand
from messaging.services.processing import webhook_events_process
from onboarding.models import TechProvider, TechProviderEvent
from onboarding.services.notifications import tech_provider_event_record
from tests.conftest import Account
from tests.messaging.conftest import entry_doc, fixture, post_meta, status_value

pytestmark = pytest.mark.django_db


def test_onboarding_events_are_delivered_once_under_their_own_id(
    tp_with_endpoint: Account,
) -> None:
    tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
    event = tech_provider_event_record(
        tech_provider=tech_provider, waba=None, event_type="waba.active", payload={"x": 1}
    )
    assert tech_provider_events_dispatch() == 1
    assert tech_provider_events_dispatch() == 0
    delivery = Delivery.objects.get()
    assert (delivery.webhook_id, delivery.event_type, delivery.state) == (
        event.event_id,
        "waba.active",
        "pending",
    )
    assert TechProviderEvent.objects.get().dispatched_at is not None


def test_events_parked_too_long_expire(client: Client, settings: Any) -> None:
    post_meta(client, entry_doc(("123", "messages", status_value("wamid.P", "sent", 1, "9"))))
    webhook_events_process()
    assert WebhookEvent.objects.get().state == "parked"
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.WEBHOOK_PARKED_TTL_S + 5)):
        assert webhooks_housekeeping().expired_events == 1
    assert WebhookEvent.objects.get().state == "expired"


def test_an_endpoint_nothing_reaches_is_still_disabled_after_5_days(
    tp_with_endpoint: Account,
) -> None:
    tp_id = tp_with_endpoint.tech_provider.pk
    EndpointHealth.objects.create(
        tech_provider_id=tp_id, failing_since=timezone.now() - timedelta(days=5, minutes=1)
    )
    assert webhooks_housekeeping().endpoints_disabled == 1
    assert TechProvider.objects.get(pk=tp_id).webhook_disabled_at is not None
    assert webhooks_housekeeping().endpoints_disabled == 0


def test_old_payloads_are_pruned_but_not_while_their_events_wait(client: Client) -> None:
    post_meta(client, fixture("status_delivered"))  # its event stays pending
    post_meta(client, fixture("status_delivered"))  # a pure duplicate
    assert webhook_payloads_expand() == 2
    WebhookPayload.objects.update(received_at=timezone.now() - timedelta(days=31))
    assert webhooks_housekeeping().payloads_pruned == 1
    assert WebhookPayload.objects.count() == 1


def test_an_old_payload_whose_events_were_never_derived_is_kept(client: Client) -> None:
    post_meta(client, fixture("status_delivered"))  # stored; the workers never expanded it
    WebhookPayload.objects.update(received_at=timezone.now() - timedelta(days=31))

    assert webhooks_housekeeping().payloads_pruned == 0
    assert webhook_payloads_expand() == 1
    assert WebhookEvent.objects.count() == 1


def test_a_burst_of_posts_publishes_one_nudge_per_interval(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(nudge.current_app, "send_task", lambda name, **kw: sent.append(name))
    monkeypatch.setattr(nudge, "_last_sent", {})
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(50):
            post_meta(client, entry_doc(("1", "messages", status_value(f"w{i}", "sent", 1))))
    assert sent == ["messaging.webhook_events_process"]
    assert WebhookPayload.objects.count() == 50


def test_a_broker_outage_never_fails_ingest(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def down(name: str, **kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(nudge.current_app, "send_task", down)
    monkeypatch.setattr(nudge, "_last_sent", {})
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, fixture("messages_text")).status_code == 200
    assert WebhookPayload.objects.count() == 1
    assert webhook_payloads_expand() == 1  # what the periodic sweep does first
    assert WebhookEvent.objects.count() == 1
