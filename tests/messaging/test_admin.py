"""Staff tools: every messaging list in admin loads and searches; replay and process-again work."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from messaging.models import Delivery, WebhookEvent
from messaging.services.deliveries import tech_provider_event_deliver
from messaging.services.processing import webhook_events_process
from onboarding.models import TechProvider
from tests.conftest import Account
from tests.messaging.conftest import fixture, make_waba, post_meta

pytestmark = pytest.mark.django_db

MODELS = [
    "webhookpayload",
    "webhookevent",
    "delivery",
    "deliveryattempt",
    "endpointhealth",
    "messagestatus",
    "conversationwindow",
    "messagetemplate",
    "wabaalert",
]


@pytest.fixture
def staff(client: Client) -> Client:
    user = User.objects.create_superuser("staff", "staff@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_each_list_loads_and_searches(staff: Client, tp_with_endpoint: Account, model: str) -> None:
    make_waba(tp_with_endpoint.tech_provider)
    post_meta(Client(), fixture("status_failed"))
    webhook_events_process()
    url = f"/admin/messaging/{model}/"
    assert staff.get(url).status_code == 200
    assert staff.get(url, {"q": "wamid"}).status_code == 200


def test_replay_and_process_again_actions(staff: Client, tp_with_endpoint: Account) -> None:
    tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
    delivery = tech_provider_event_deliver(tech_provider=tech_provider, event_type="t", data={})
    Delivery.objects.filter(pk=delivery.pk).update(state="dead")
    response: Any = staff.post(
        "/admin/messaging/delivery/", {"action": "replay", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.state, delivery.replays) == ("pending", 1)
    post_meta(Client(), fixture("account_review_update"))
    webhook_events_process()  # parked: no WABA
    event = WebhookEvent.objects.get()
    staff.post(
        "/admin/messaging/webhookevent/",
        {"action": "process_again", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert event.state == "pending"
