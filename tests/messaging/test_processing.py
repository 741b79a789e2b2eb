"""Processing after the 200: one test per Meta fixture, routing, parking, statuses, windows."""

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from django.conf import settings
from django.db import DatabaseError, connection
from django.test import Client
from rest_framework.test import APIClient

from messaging.meta_events import derive_events
from messaging.models import (
    ConversationWindow,
    Delivery,
    MessageStatus,
    MessageTemplate,
    WabaAlert,
    WebhookEvent,
)
from messaging.services.alerts import waba_alert_handle
from messaging.services.batch_effects import BatchEffects
from messaging.services.ingest import webhook_payloads_expand
from messaging.services.processing import (
    _UPDATED_FIELDS,
    events_save,
    webhook_events_process,
    webhook_events_route_parked,
)
from onboarding.models import PhoneNumber, TechProvider, WhatsAppBusinessAccount
from tests.conftest import Account, make_account
from tests.messaging.conftest import (
    PHONE_ID,
    WABA_ID,
    entry_doc,
    fixture,
    fixture_names,
    make_waba,
    message_value,
    post_meta,
    status_value,
)

pytestmark = pytest.mark.django_db

# fixture -> (event type, dedupe key prefix)
EXPECTED = {
    "account_review_update": ("account_review_update", "change:"),
    "account_update_disabled": ("account_update", "change:"),
    "account_update_partner_removed": ("account_update", "change:"),
    "account_update_restriction": ("account_update", "change:"),
    "account_update_violation": ("account_update", "change:"),
    "business_capability_update": ("business_capability_update", "change:"),
    "message_template_quality_update": ("message_template_quality_update", "change:"),
    "message_template_status_update": (
        "message_template_status_update",
        "template:1689556908129835:REJECTED:1794816100",
    ),
    "messages_text": ("message.received", "message:wamid.HBgMOTE5ODAwMDAwMDAxFQIAEhgg"),
    "phone_number_quality_update": ("phone_number_quality_update", "change:"),
    "status_delivered": ("message.status", "status:wamid.X:delivered"),
    "status_failed": ("message.status", "status:wamid.HBgMOTE5ODAwMDAwMDAxFQIAERgS:failed"),
    "template_category_update": ("template_category_update", "change:"),
}


@pytest.fixture
def account(db: None) -> Account:
    account = make_account("Routed ISV")
    TechProvider.objects.filter(pk=account.tech_provider.pk).update(
        webhook_url="https://hooks.example.com/meta"
    )
    account.tech_provider.refresh_from_db()
    make_waba(account.tech_provider)
    return account


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(EXPECTED) == fixture_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_becomes_one_routed_event_and_one_delivery(
    client: Client, account: Account, name: str
) -> None:
    event_type, key = EXPECTED[name]
    assert post_meta(client, fixture(name)).status_code == 200
    assert webhook_events_process() == 1
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.state) == (event_type, "processed")
    assert event.dedupe_key.startswith(key)
    assert event.tech_provider_id == account.tech_provider.pk
    delivery = Delivery.objects.get()
    envelope = json.loads(delivery.body)
    assert (delivery.webhook_id, envelope["id"], envelope["type"]) == (
        event.event_id,
        event.event_id,
        event_type,
    )
    assert envelope["waba_id"] == WABA_ID
    assert "secret" not in delivery.body.lower()


def test_event_ids_are_deterministic_and_free_of_dots() -> None:
    first = derive_events(fixture("status_failed")).events
    again = derive_events(json.loads(json.dumps(fixture("status_failed")))).events
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert re.fullmatch(r"evt_[0-9a-f]{32}", first[0].event_id)


def test_every_entry_and_every_change_and_item_is_its_own_event() -> None:
    value = status_value("wamid.A", "sent", 10)
    value["statuses"].append({"id": "wamid.A", "status": "delivered", "timestamp": "11"})
    document = entry_doc(
        ("1", "messages", value), ("2", "messages", message_value("wamid.B", "9", 12))
    )
    document["entry"][0]["changes"].append(
        {"field": "account_review_update", "value": {"decision": "APPROVED"}}
    )
    keys = [e.dedupe_key for e in derive_events(document).events]
    assert keys[:2] == ["status:wamid.A:sent", "status:wamid.A:delivered"]
    assert keys[2].startswith("change:")
    assert keys[3] == "message:wamid.B"


class TestRouting:
    def test_a_multi_entry_post_for_two_tech_providers_is_split_between_them(
        self, client: Client, account: Account
    ) -> None:
        other = make_account("Other ISV")
        TechProvider.objects.filter(pk=other.tech_provider.pk).update(
            webhook_url="https://other.example.com/hook"
        )
        make_waba(other.tech_provider, waba_id="222222222222222", phone_number_id="555555555555555")
        document = entry_doc(
            (WABA_ID, "messages", status_value("wamid.A1", "sent", 1)),
            ("222222222222222", "messages", status_value("wamid.B1", "sent", 1, "555555555555555")),
            (WABA_ID, "messages", message_value("wamid.A2", "911", 2)),
            (
                "222222222222222",
                "message_template_status_update",
                {
                    "event": "APPROVED",
                    "message_template_id": 77,
                    "message_template_name": "x",
                    "message_template_language": "en",
                },
            ),
        )
        assert post_meta(client, document).status_code == 200
        webhook_events_process()
        mine = Delivery.objects.filter(tech_provider=account.tech_provider)
        theirs = Delivery.objects.filter(tech_provider=other.tech_provider)
        assert {json.loads(d.body)["waba_id"] for d in mine} == {WABA_ID}
        assert {json.loads(d.body)["waba_id"] for d in theirs} == {"222222222222222"}
        assert (mine.count(), theirs.count()) == (2, 2)

    def test_it_routes_by_phone_number_when_the_entry_id_is_unknown(
        self, client: Client, account: Account
    ) -> None:
        document = entry_doc(("999000999", "messages", status_value("wamid.Z", "sent", 1)))
        post_meta(client, document)
        webhook_events_process()
        assert WebhookEvent.objects.get().tech_provider_id == account.tech_provider.pk

    def test_account_update_routes_by_waba_info_not_the_partner_entry_id(
        self, client: Client, account: Account
    ) -> None:
        post_meta(client, fixture("account_update_partner_removed"))
        webhook_events_process()
        event = WebhookEvent.objects.get()
        assert (event.entry_id, event.named_waba_id) == ("999999999999999", WABA_ID)
        assert event.state == "processed"

    def test_it_falls_back_to_the_per_waba_url(self, client: Client, account: Account) -> None:
        document = entry_doc(("424242", "account_alerts", {"alert_type": "X"}))
        post_meta(client, document, path=f"/webhooks/meta/waba/{WABA_ID}/")
        webhook_events_process()
        assert WebhookEvent.objects.get().tech_provider_id == account.tech_provider.pk

    def test_the_body_wins_over_the_url_so_a_replayed_body_cannot_cross_tenants(
        self, client: Client, account: Account
    ) -> None:
        other = make_account("Other ISV")
        make_waba(other.tech_provider, waba_id="222222222222222", phone_number_id=None)
        document = entry_doc((WABA_ID, "account_review_update", {"decision": "APPROVED"}))
        post_meta(client, document, path="/webhooks/meta/waba/222222222222222/")
        webhook_events_process()
        assert Delivery.objects.get().tech_provider_id == account.tech_provider.pk

    def test_events_of_an_unknown_waba_are_parked_then_delivered_after_onboarding(
        self, client: Client
    ) -> None:
        signed_up = make_account("Late ISV")
        TechProvider.objects.filter(pk=signed_up.tech_provider.pk).update(
            webhook_url="https://late.example.com/hook"
        )
        waba_id, number = "104996789012345", "1069999000001"
        document = entry_doc(
            (
                waba_id,
                "account_update",
                {"event": "PARTNER_ADDED", "waba_info": {"waba_id": waba_id}},
            ),
            (waba_id, "messages", status_value("wamid.early", "sent", 5, number)),
        )
        post_meta(client, document)
        webhook_events_process()
        assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"parked"}
        assert not Delivery.objects.exists()
        assert webhook_events_route_parked() == 0

        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=signed_up.basic)
        response = api.post(
            signed_up.url(),
            {"waba_id": waba_id, "business_id": "203456789012345", "phone_number_id": number},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert webhook_events_route_parked(waba_id=waba_id) == 2
        webhook_events_process()
        assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}
        assert Delivery.objects.filter(tech_provider=signed_up.tech_provider).count() == 2


class TestEffects:
    @pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
    def test_statuses_in_any_order_end_at_the_highest(
        self, client: Client, account: Account, order: tuple[str, ...]
    ) -> None:
        for status in order + ("delivered", "sent"):
            post_meta(client, entry_doc((WABA_ID, "messages", status_value("wamid.M", status, 9))))
            webhook_events_process()
        assert MessageStatus.objects.get(wamid="wamid.M").status == "read"
        assert Delivery.objects.count() == 3  # duplicates are not forwarded again

    def test_failed_is_final_and_played_beats_read(self, client: Client, account: Account) -> None:
        for wamid, statuses, final in [
            ("wamid.F", ["sent", "failed", "read"], "failed"),
            ("wamid.P", ["played", "read", "delivered"], "played"),
        ]:
            for status in statuses:
                post_meta(client, entry_doc((WABA_ID, "messages", status_value(wamid, status, 1))))
            webhook_events_process()
            assert MessageStatus.objects.get(wamid=wamid).status == final

    def test_a_failed_status_keeps_its_error_and_callback_data(
        self, client: Client, account: Account
    ) -> None:
        post_meta(client, fixture("status_failed"))
        webhook_events_process()
        status = MessageStatus.objects.get()
        assert (status.error_code, status.biz_opaque_callback_data) == (131047, "tenant42:msg9001")

    def test_an_inbound_message_opens_the_window_and_a_late_older_one_does_not_shorten_it(
        self, client: Client, account: Account
    ) -> None:
        now = int(datetime.now(UTC).timestamp())
        for wamid, at in [("wamid.new", now - 60), ("wamid.old", now - 7200)]:
            post_meta(client, entry_doc((WABA_ID, "messages", message_value(wamid, "9198", at))))
            webhook_events_process()
        window = ConversationWindow.objects.get(phone_number_id=PHONE_ID, wa_id="9198")
        assert window.last_message_id == "wamid.new"
        assert window.expires_at == datetime.fromtimestamp(now - 60, UTC) + timedelta(hours=24)

    def test_template_updates_are_recorded_and_a_stale_one_is_ignored(
        self, client: Client, account: Account
    ) -> None:
        post_meta(client, fixture("message_template_status_update"))
        stale = fixture("message_template_status_update")
        stale["entry"][0]["time"] = 1794816000
        stale["entry"][0]["changes"][0]["value"]["event"] = "PENDING"
        post_meta(client, stale)
        webhook_events_process()
        template = MessageTemplate.objects.get(template_id="1689556908129835")
        assert (template.status, template.category, template.name) == (
            "REJECTED",
            "UTILITY",
            "order_update",
        )
        assert "Adjacent parameters" in template.status_reason
        post_meta(client, fixture("template_category_update"))
        post_meta(client, fixture("message_template_quality_update"))
        webhook_events_process()
        other = MessageTemplate.objects.get(template_id="1689556908129832")
        assert (other.category, other.quality_score) == ("MARKETING", "YELLOW")

    def test_quality_and_capability_updates_set_the_numbers_messaging_limit(
        self, client: Client, account: Account
    ) -> None:
        post_meta(client, fixture("business_capability_update"))
        webhook_events_process()
        assert PhoneNumber.objects.get().messaging_limit_tier == "TIER_2K"
        post_meta(client, fixture("phone_number_quality_update"))
        webhook_events_process()
        assert PhoneNumber.objects.get().messaging_limit_tier == "TIER_UNLIMITED"

    @pytest.mark.parametrize(
        "name",
        ["account_update_disabled", "account_update_violation", "account_update_restriction"],
    )
    def test_bans_violations_and_restrictions_are_recorded(
        self, client: Client, account: Account, name: str
    ) -> None:
        post_meta(client, fixture(name))
        webhook_events_process()
        alert = WabaAlert.objects.get()
        assert alert.kind == fixture(name)["entry"][0]["changes"][0]["value"]["event"]
        assert Delivery.objects.get().event_type == "account_update"

    @responses.activate
    def test_partner_removed_offboards_the_waba(self, client: Client, account: Account) -> None:
        responses.add(responses.DELETE, re.compile(r".*/subscribed_apps$"), json={"success": True})
        post_meta(client, fixture("account_update_partner_removed"))
        webhook_events_process()
        alert = WabaAlert.objects.get(kind="PARTNER_REMOVED")
        assert waba_alert_handle(alert_id=alert.pk) is True
        assert WhatsAppBusinessAccount.objects.get().status == "offboarded"
        assert waba_alert_handle(alert_id=alert.pk) is False  # handled once

    def test_if_the_batched_upsert_fails_events_are_applied_one_by_one(
        self, client: Client, account: Account, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(self: BatchEffects) -> None:
            raise DatabaseError("batch failed")

        monkeypatch.setattr(BatchEffects, "apply", broken)
        post_meta(client, fixture("status_delivered"))
        post_meta(client, fixture("messages_text"))
        assert webhook_events_process() == 2
        assert MessageStatus.objects.get().status == "delivered"
        assert ConversationWindow.objects.count() == 1

    def test_an_event_whose_effect_fails_is_still_forwarded(
        self, client: Client, account: Account, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def boom(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("bad row")

        monkeypatch.setattr("messaging.services.processing.event_effects_apply", boom)
        post_meta(client, fixture("account_update_disabled"))
        post_meta(client, fixture("messages_text"))
        assert webhook_events_process() == 2
        assert Delivery.objects.count() == 2
        assert "RuntimeError" in WebhookEvent.objects.get(event_type="account_update").note


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="the single UPDATE statement is used on PostgreSQL only",
)
def test_the_batch_update_statement_leaves_the_rows_bulk_update_leaves(
    client: Client, account: Account
) -> None:
    """A batch's processed fields are written with one static statement on PostgreSQL and with
    Django's bulk_update elsewhere (the embedded SQLite default): the same objects written both
    ways must read back the same, field by field."""
    for name in sorted(EXPECTED):
        post_meta(client, fixture(name))
    webhook_payloads_expand()
    waba = WhatsAppBusinessAccount.objects.get()
    moment = datetime(2026, 11, 22, 5, 4, 3, 210987, tzinfo=UTC)
    values: list[Any] = [
        {"text": {"body": "caf\u00e9 \u2713 'quoted' \"double\" back\\slash \U0001f600"}, "n": 1.5},
        [1, "two", None, True, {"nested": []}],
        "a JSON string",
        None,
        0,
    ]
    events = list(WebhookEvent.objects.order_by("id"))
    for i, event in enumerate(events):
        event.state = ["processed", "parked", "ignored", "pending"][i % 4]
        event.tech_provider_id = account.tech_provider.pk if i % 3 else None
        event.waba = waba if i % 2 else None
        event.value = values[i % len(values)]
        event.note = f'note {i}: l\'\u00e9v\u00e9nement "{i}"' if i % 2 else ""
        event.attempts = i
        event.processed_at = moment + timedelta(seconds=i) if i % 3 else None
        event.updated_at = moment - timedelta(microseconds=i)

    fields = ["id", "tech_provider_id", "waba_id", *_UPDATED_FIELDS[3:]]

    def written() -> list[dict[str, Any]]:
        rows = list(WebhookEvent.objects.order_by("id").values("state", *fields))
        with connection.cursor() as cursor:  # JSON null and SQL NULL both read back as None
            cursor.execute("SELECT value::text FROM messaging_webhookevent ORDER BY id")
            for row, (raw,) in zip(rows, cursor.fetchall(), strict=True):
                row["raw_value"] = raw
        return rows

    baseline = written()
    events_save(events)
    by_statement = written()
    WebhookEvent.objects.bulk_update(
        [WebhookEvent(**{k: row[k] for k in ("state", *fields)}) for row in baseline],
        ["state", *fields[1:]],
    )
    assert written() == baseline
    WebhookEvent.objects.bulk_update(events, _UPDATED_FIELDS)
    by_orm = written()
    assert by_statement == by_orm
    assert by_statement != baseline
    assert [row["value"] for row in by_orm[:5]] == values


@pytest.mark.parametrize("text", ["nul \u0000 inside", "lone \ud800 surrogate"])
def test_text_the_database_cannot_hold_does_not_stall_the_queue(
    client: Client, account: Account, text: str
) -> None:
    poisoned = message_value("wamid.NUL", "919800000001", 1_794_816_000)
    poisoned["messages"][0]["text"]["body"] = text
    after = message_value("wamid.AFTER", "919800000002", 1_794_816_001)
    body = json.dumps(entry_doc((WABA_ID, "messages", poisoned))).encode()
    assert post_meta(client, body).status_code == 200
    assert post_meta(client, entry_doc((WABA_ID, "messages", after))).status_code == 200

    webhook_events_process()

    states = dict(WebhookEvent.objects.values_list("dedupe_key", "state"))
    assert set(states.values()) == {"processed"}, states
    assert Delivery.objects.count() == 2
    stored = WebhookEvent.objects.get(dedupe_key__contains="wamid.NUL")
    value: Any = stored.value
    expected = text.replace("\u0000", "\ufffd").replace("\ud800", "\ufffd")
    assert value["messages"][0]["text"]["body"] == expected
    assert "replaced" in stored.note
