"""Quality and limits: numbers' quality, messaging limit and throughput kept current from
webhooks and a periodic read (Graph faked with `responses`); drops become Tech Provider events
and stand out in admin."""

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from messaging.models import Delivery, NumberHealth, QualityEvent
from messaging.services import quality
from messaging.services.processing import webhook_events_process
from onboarding.models import PhoneNumber
from tests.conftest import Account
from tests.messaging.conftest import PHONE_ID, WABA_ID, entry_doc, post_meta
from tests.messaging.sending import GRAPH, approved_template, graph, graph_error, sending_waba

pytestmark = pytest.mark.django_db
__all__ = ["graph"]  # the fixture


@pytest.fixture
def waba(account: Account) -> Any:
    waba = sending_waba(account.tech_provider)
    PhoneNumber.objects.filter(phone_number_id=PHONE_ID).update(
        quality_rating="GREEN", messaging_limit_tier="TIER_2K", throughput_level="STANDARD"
    )
    return waba


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    tasks: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        quality.current_app, "send_task", lambda name, args=(): tasks.append((name, list(args)))
    )
    return tasks


def meta_says(graph: Any, rating: str, tier: str = "TIER_2K", level: str = "STANDARD") -> None:
    graph.get(
        f"{GRAPH}/{PHONE_ID}",
        json={
            "id": PHONE_ID,
            "quality_rating": rating,
            "throughput": {"level": level},
            "whatsapp_business_manager_messaging_limit": tier,
            "status": "CONNECTED",
        },
    )


def test_a_quality_webhook_triggers_a_read_and_a_drop_becomes_an_event(
    account, waba, graph, sent_tasks, django_capture_on_commit_callbacks
) -> None:
    value = {"display_phone_number": "15550001111", "event": "FLAGGED", "current_limit": "TIER_2K"}
    with django_capture_on_commit_callbacks(execute=True):
        post_meta(Client(), entry_doc((WABA_ID, "phone_number_quality_update", value), time=1))
        webhook_events_process()
    assert ("messaging.phone_number_quality_refresh", [PHONE_ID]) in sent_tasks

    meta_says(graph, "YELLOW")
    assert quality.phone_number_refresh(phone=PhoneNumber.objects.get(phone_number_id=PHONE_ID))
    number = PhoneNumber.objects.get(phone_number_id=PHONE_ID)
    assert number.quality_rating == "YELLOW"
    drop = QualityEvent.objects.get(kind="number_quality")
    assert (drop.previous, drop.current, drop.is_drop, drop.source) == (
        "GREEN",
        "YELLOW",
        True,
        "refresh",
    )
    event = Delivery.objects.get(event_type="phone_number.quality_dropped")
    data = json.loads(event.body)["data"]
    assert (data["phone_number_id"], data["previous"], data["current"]) == (
        PHONE_ID,
        "GREEN",
        "YELLOW",
    )
    health = NumberHealth.objects.get(number=number)
    assert health.dropped_at is not None
    assert health.refreshed_at is not None


def test_a_rise_is_recorded_without_an_alert(account, waba, graph) -> None:
    PhoneNumber.objects.filter(phone_number_id=PHONE_ID).update(quality_rating="RED")
    meta_says(graph, "GREEN", tier="TIER_10K", level="HIGH")
    quality.phone_number_refresh(phone=PhoneNumber.objects.get(phone_number_id=PHONE_ID))
    kinds = set(QualityEvent.objects.values_list("kind", "is_drop"))
    assert kinds == {
        ("number_quality", False),
        ("number_limit", False),
        ("number_throughput", False),
    }
    assert not Delivery.objects.filter(event_type__startswith="phone_number.").exists()


def test_a_lower_limit_from_a_capability_webhook_is_a_drop(account, waba) -> None:
    value = {"max_daily_conversations_per_business": "TIER_250"}
    post_meta(Client(), entry_doc((WABA_ID, "business_capability_update", value), time=5))
    webhook_events_process()
    assert PhoneNumber.objects.get(phone_number_id=PHONE_ID).messaging_limit_tier == "TIER_250"
    drop = QualityEvent.objects.get(kind="number_limit")
    assert (drop.previous, drop.current, drop.is_drop, drop.source) == (
        "TIER_2K",
        "TIER_250",
        True,
        "webhook",
    )
    assert Delivery.objects.filter(event_type="phone_number.limit_dropped").count() == 1


def test_a_template_quality_drop_is_an_alert(account, waba) -> None:
    template = approved_template(waba)
    template.quality_score = "GREEN"
    template.save()
    value = {
        "previous_quality_score": "GREEN",
        "new_quality_score": "RED",
        "message_template_id": int(template.template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    post_meta(Client(), entry_doc((WABA_ID, "message_template_quality_update", value), time=9))
    webhook_events_process()
    drop = QualityEvent.objects.get(kind="template_quality")
    assert (drop.previous, drop.current, drop.is_drop) == ("GREEN", "RED", True)
    assert Delivery.objects.filter(event_type="template.quality_dropped").count() == 1


def test_a_failed_read_is_kept_on_the_number(account, waba, graph) -> None:
    graph.get(f"{GRAPH}/{PHONE_ID}", **graph_error(190, "Token expired", 401))
    phone = PhoneNumber.objects.get(phone_number_id=PHONE_ID)
    assert quality.phone_number_refresh(phone=phone) is False
    assert "Token expired" in NumberHealth.objects.get(number=phone).refresh_error
    assert not QualityEvent.objects.exists()


def test_the_periodic_read_queues_every_number_that_can_send(
    account, waba, other_account, sent_tasks
) -> None:
    PhoneNumber.objects.create(  # not registered: it cannot send
        waba=waba, phone_number_id="555555555555555", registration="pending"
    )
    assert quality.quality_refresh_all() == 1
    assert sent_tasks == [("messaging.phone_number_quality_refresh", [PHONE_ID])]


def test_admin_shows_numbers_and_drops_first(account, waba, graph, client) -> None:
    meta_says(graph, "RED")
    quality.phone_number_refresh(phone=PhoneNumber.objects.get(phone_number_id=PHONE_ID))
    staff = User.objects.create_superuser("staff", "staff@example.com", "pw-for-tests-only")
    client.force_login(staff)
    page = client.get("/admin/messaging/qualityevent/").content.decode()
    assert "DROP" in page
    numbers = client.get("/admin/messaging/numberhealth/")
    assert numbers.status_code == 200
    assert "RED" in numbers.content.decode()
    for model in ("message", "statuscallback", "inboundmedia"):
        assert client.get(f"/admin/messaging/{model}/", {"q": "x"}).status_code == 200
