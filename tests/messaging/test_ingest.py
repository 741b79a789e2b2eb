"""Meta ingest: the GET handshake, the signature on the raw bytes, size limits, storing the raw
body before the 200, and expanding stored bodies into events after it (crashes, races, dedupe)."""

import json
import threading
import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from messaging import tasks
from messaging.meta_events import derive_events
from messaging.models import Delivery, WebhookEvent, WebhookPayload
from messaging.services import ingest
from messaging.services.ingest import webhook_payloads_expand
from messaging.signing import meta_signature, meta_signature_valid
from tests.conftest import make_account
from tests.messaging.conftest import (
    WABA_ID,
    entry_doc,
    fixture,
    make_waba,
    message_value,
    post_meta,
    status_value,
)

pytestmark = pytest.mark.django_db


def on_postgresql(reason: str) -> pytest.MarkDecorator:
    engine = django_settings.DATABASES["default"]["ENGINE"]
    return pytest.mark.skipif("postgresql" not in engine, reason=reason)


APP = "/webhooks/meta/"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Celery task name the web process publishes."""
    sent: list[str] = []
    monkeypatch.setattr(
        "messaging.services.nudge.current_app.send_task",
        lambda name, **kwargs: sent.append(name),
    )
    monkeypatch.setattr("messaging.services.nudge._last_sent", {})
    return sent


def nothing_stored() -> bool:
    return not WebhookPayload.objects.exists() and not WebhookEvent.objects.exists()


def handshake(client: Client, path: str, token: str, mode: str = "subscribe") -> Any:
    return client.get(
        path, {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}
    )


class TestHandshake:
    def test_it_echoes_the_challenge_for_the_app_token(self, client: Client, settings: Any) -> None:
        response = handshake(client, APP, settings.META_WEBHOOK_VERIFY_TOKEN)
        assert response.status_code == 200
        assert response.content == b"1158201444"
        assert response["Content-Type"].startswith("text/plain")

    @pytest.mark.parametrize(
        ("token", "mode"), [("wrong", "subscribe"), ("", "subscribe"), (None, "unsubscribe")]
    )
    def test_it_refuses_a_wrong_token_or_mode(
        self, client: Client, settings: Any, token: str | None, mode: str
    ) -> None:
        token = settings.META_WEBHOOK_VERIFY_TOKEN if token is None else token
        assert handshake(client, APP, token, mode).status_code == 403

    def test_a_waba_url_answers_to_that_wabas_own_token(self, client: Client) -> None:
        waba = make_waba(make_account().tech_provider)
        waba.webhook_verify_token = "per-waba-token-123"
        waba.save()
        path = f"/webhooks/meta/waba/{WABA_ID}/"
        assert handshake(client, path, "per-waba-token-123").content == b"1158201444"
        assert handshake(client, path, "someone-elses").status_code == 403

    def test_an_unknown_waba_url_refuses_the_handshake(self, client: Client, settings: Any) -> None:
        path = "/webhooks/meta/waba/123456789/"
        assert handshake(client, path, settings.META_WEBHOOK_VERIFY_TOKEN).status_code == 403
        assert client.get("/webhooks/meta/waba/not-a-number/").status_code == 404


class TestSignature:
    def test_a_valid_signature_stores_only_the_raw_body_before_the_200(
        self, client: Client, published: list[str], django_capture_on_commit_callbacks: Any
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_meta(client, fixture("messages_text"))
        assert response.status_code == 200
        payload = WebhookPayload.objects.get()
        assert bytes(payload.body) == json.dumps(fixture("messages_text")).encode()
        assert (payload.expanded_at, payload.event_count, payload.parse_error) == (None, 0, "")
        assert not WebhookEvent.objects.exists()
        assert published == ["messaging.webhook_events_process"]
        assert webhook_payloads_expand() == 1
        event = WebhookEvent.objects.get()
        assert (event.event_type, event.state, event.payload_id) == (
            "message.received",
            "pending",
            payload.pk,
        )

    def test_a_missing_signature_gets_401_and_stores_nothing(
        self, client: Client, published: list[str]
    ) -> None:
        response = post_meta(client, fixture("messages_text"), signature="")
        assert response.status_code == 401
        assert nothing_stored()
        assert published == []

    @pytest.mark.parametrize(
        "header",
        [
            "sha256=",
            "sha256=zz",
            "sha1=" + "0" * 40,
            "0" * 64,
            "sha256=" + "0" * 63,
            "sha256=" + "0" * 64 + " ",
            "garbage",
        ],
    )
    def test_a_malformed_signature_gets_403_and_stores_nothing(
        self, client: Client, published: list[str], header: str
    ) -> None:
        assert post_meta(client, fixture("messages_text"), signature=header).status_code == 403
        assert nothing_stored()
        assert published == []

    def test_a_signature_with_another_secret_is_refused(self, client: Client) -> None:
        response = post_meta(client, fixture("messages_text"), secret="not-the-app-secret")
        assert response.status_code == 403
        assert nothing_stored()

    def test_one_byte_changed_is_refused(self, client: Client, settings: Any) -> None:
        body = json.dumps(fixture("messages_text")).encode()
        signature = meta_signature(body, settings.META_APP_SECRET[0])
        tampered = body.replace(b"shipped", b"shipPed")
        assert post_meta(client, tampered, signature=signature).status_code == 403
        assert nothing_stored()

    def test_the_raw_bytes_are_verified_even_with_non_ascii_and_escapes(
        self, client: Client
    ) -> None:
        # Meta signs the bytes it sends (escaped unicode, "\/"); re-serialising would break it.
        body = (
            '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":'
            '"messages","value":{"messages":[{"id":"wamid.A","from":"1","timestamp":"1",'
            '"text":{"body":"caf\\u00e9 \\/ na\u00efve \u2713"}}]}}]}]}'
        ).encode()
        assert post_meta(client, body).status_code == 200
        assert bytes(WebhookPayload.objects.get().body) == body
        webhook_payloads_expand()
        assert WebhookEvent.objects.get().dedupe_key == "message:wamid.A"

    def test_any_configured_app_secret_verifies(self, client: Client, settings: Any) -> None:
        settings.META_APP_SECRET = ["new-secret-after-rotation", "old-secret"]
        assert post_meta(client, fixture("messages_text"), secret="old-secret").status_code == 200
        assert (
            post_meta(
                client, fixture("status_failed"), secret="new-secret-after-rotation"
            ).status_code
            == 200
        )
        assert webhook_payloads_expand() == 2
        assert WebhookEvent.objects.count() == 2

    def test_with_no_app_secret_configured_everything_is_refused(
        self, client: Client, settings: Any
    ) -> None:
        good = meta_signature(json.dumps(fixture("messages_text")).encode(), "whatever")
        settings.META_APP_SECRET = []
        assert post_meta(client, fixture("messages_text"), signature=good).status_code == 403
        assert nothing_stored()

    def test_the_comparison_is_constant_time_across_every_secret(self) -> None:
        body = b"{}"
        header = meta_signature(body, "b")
        assert meta_signature_valid(body, header, ["a", "b", "c"])
        assert not meta_signature_valid(body, header, ["a", "c"])
        assert not meta_signature_valid(body, header.upper().replace("SHA256", "sha1"), ["b"])


class TestLimitsAndDedupe:
    def test_a_3_mb_body_is_accepted_and_a_larger_one_refused(
        self, client: Client, settings: Any
    ) -> None:
        document = fixture("messages_text")
        padding = settings.META_WEBHOOK_MAX_BYTES - len(json.dumps({**document, "pad": ""}))
        at_limit = json.dumps({**document, "pad": "x" * padding}).encode()
        assert len(at_limit) == settings.META_WEBHOOK_MAX_BYTES >= 3 * 1000 * 1000
        assert post_meta(client, at_limit).status_code == 200
        assert post_meta(client, at_limit + b" ").status_code == 413
        assert WebhookPayload.objects.count() == 1

    def test_a_duplicate_post_keeps_its_body_but_adds_no_event(self, client: Client) -> None:
        for _ in range(3):
            assert post_meta(client, fixture("status_delivered")).status_code == 200
        assert WebhookPayload.objects.count() == 3
        assert webhook_payloads_expand() == 3
        assert WebhookEvent.objects.count() == 1
        assert set(WebhookPayload.objects.values_list("event_count", flat=True)) == {1}

    def test_a_signed_body_that_is_not_json_is_kept_and_marked_with_no_events(
        self, client: Client
    ) -> None:
        assert post_meta(client, b"not json at all").status_code == 200
        assert WebhookPayload.objects.get().parse_error == ""  # nothing is parsed before the 200
        assert webhook_payloads_expand() == 1
        payload = WebhookPayload.objects.get()
        assert payload.parse_error == "the body is not JSON"
        assert payload.expanded_at is not None
        assert not WebhookEvent.objects.exists()

    def test_a_per_waba_post_records_the_path(self, client: Client) -> None:
        path = f"/webhooks/meta/waba/{WABA_ID}/"
        assert post_meta(client, fixture("status_delivered"), path=path).status_code == 200
        webhook_payloads_expand()
        event = WebhookEvent.objects.get()
        assert (event.path_waba_id, WebhookPayload.objects.get().source) == (WABA_ID, "waba")


def _two_changes(first: tuple[str, str], second: tuple[str, str]) -> dict[str, Any]:
    return entry_doc(
        (WABA_ID, "messages", status_value(first[0], first[1], 1)),
        (WABA_ID, "messages", status_value(second[0], second[1], 2)),
    )


def _pending() -> int:
    return WebhookPayload.objects.filter(expanded_at__isnull=True).count()


class TestExpansion:
    def test_each_event_is_stored_once_with_the_first_payload_that_held_it(
        self, client: Client
    ) -> None:
        a = _two_changes(("wamid.1", "sent"), ("wamid.2", "sent"))
        b = _two_changes(("wamid.1", "sent"), ("wamid.3", "delivered"))
        for document in (a, a, b):
            assert post_meta(client, document).status_code == 200
        first, _, third = WebhookPayload.objects.order_by("id").values_list("id", flat=True)
        assert webhook_payloads_expand() == 3
        rows = WebhookEvent.objects.order_by("id").values_list("dedupe_key", "payload_id")
        assert list(rows) == [
            ("status:wamid.1:sent", first),
            ("status:wamid.2:sent", first),
            ("status:wamid.3:delivered", third),
        ]
        assert list(WebhookPayload.objects.values_list("event_count", flat=True)) == [2, 2, 2]
        assert webhook_payloads_expand() == 0

    def test_batches_follow_arrival_order_and_the_limit(self, client: Client) -> None:
        for i in range(5):
            post_meta(client, entry_doc((WABA_ID, "messages", message_value(f"w.{i}", "91", 1))))
        assert webhook_payloads_expand(limit=2) == 2
        assert list(WebhookEvent.objects.order_by("id").values_list("dedupe_key", flat=True)) == [
            "message:w.0",
            "message:w.1",
        ]
        assert webhook_payloads_expand(limit=2) == 2
        assert webhook_payloads_expand(limit=2) == 1
        assert WebhookEvent.objects.count() == 5
        assert _pending() == 0

    def test_a_crash_inside_the_transaction_leaves_the_payloads_pending_and_a_rerun_expands_once(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        post_meta(client, _two_changes(("wamid.1", "sent"), ("wamid.2", "sent")))
        post_meta(client, fixture("messages_text"))

        def killed(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the worker died after inserting the events")

        with monkeypatch.context() as patched:
            patched.setattr(ingest, "_mark_expanded", killed)
            with pytest.raises(RuntimeError):
                webhook_payloads_expand()
        assert not WebhookEvent.objects.exists()  # rolled back with the batch
        assert _pending() == 2
        assert webhook_payloads_expand() == 2
        assert WebhookEvent.objects.count() == 3
        assert webhook_payloads_expand() == 0
        assert WebhookEvent.objects.count() == 3

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (b"not json at all", "the body is not JSON"),
            (b"\xff\xfe{}", "the body is not JSON"),
            (b'{"object": "whatsapp_business_account"}', "no entry list"),
            (b"[" * 100_000 + b"]" * 100_000, "not derived: RecursionError"),
        ],
    )
    def test_a_malformed_body_is_marked_with_its_parse_error_and_yields_no_event(
        self, client: Client, body: bytes, error: str
    ) -> None:
        assert post_meta(client, body).status_code == 200
        post_meta(client, fixture("messages_text"))  # the next body is not held back
        assert webhook_payloads_expand() == 2
        bad, good = WebhookPayload.objects.order_by("id")
        assert (bad.parse_error, bad.event_count) == (error, 0)
        assert bad.expanded_at is not None
        assert (good.parse_error, good.event_count) == ("", 1)
        assert WebhookEvent.objects.get().payload_id == good.pk

    def test_an_event_the_columns_cannot_hold_is_left_out_and_noted(self, client: Client) -> None:
        document = _two_changes(("wamid.\u0000", "sent"), ("wamid.ok", "sent"))
        post_meta(client, document)
        webhook_payloads_expand()
        payload = WebhookPayload.objects.get()
        assert (payload.event_count, payload.parse_error) == (1, "1 events not storable")
        assert WebhookEvent.objects.get().dedupe_key == "status:wamid.ok:sent"

    @on_postgresql("SQLite stores NUL in text; PostgreSQL refuses it")
    def test_a_body_the_database_refuses_marks_only_itself(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(ingest, "_storable", lambda event: True)  # let the database refuse
        bad = _two_changes(("wamid.2", "sent"), ("wamid.\u0000", "sent"))
        for document in (fixture("messages_text"), bad, fixture("status_failed")):
            post_meta(client, document)
        assert webhook_payloads_expand() == 3
        first, refused, last = WebhookPayload.objects.order_by("id")
        assert refused.parse_error.startswith("refused:")
        assert (refused.event_count, first.event_count, last.event_count) == (0, 1, 1)
        assert set(WebhookEvent.objects.values_list("payload_id", flat=True)) == {
            first.pk,
            last.pk,
        }
        assert _pending() == 0

    def test_the_beat_sweep_expands_what_a_crashed_run_left_and_processes_it(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        account = make_account("Swept ISV")
        account.tech_provider.webhook_url = "https://hooks.example.com/meta"
        account.tech_provider.save()
        make_waba(account.tech_provider)
        post_meta(client, fixture("messages_text"))  # no nudge runs in this test
        with monkeypatch.context() as patched:
            patched.setattr(ingest, "_insert_events", _crash)
            with pytest.raises(RuntimeError):
                tasks.webhook_events_process()
        assert _pending() == 1
        swept = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
        assert "messaging.webhook_events_process" in swept
        assert tasks.webhook_events_process() == 1  # what beat runs every 2 s
        assert _pending() == 0
        assert WebhookEvent.objects.get().state == "processed"
        assert Delivery.objects.get().tech_provider_id == account.tech_provider.pk


def _crash(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the worker died")


@on_postgresql("row locks (SKIP LOCKED) exist on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_expanders_at_once_never_expand_or_store_anything_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    documents = [
        # each body shares one event with the one before it, as Meta's retries and batches do
        _two_changes((f"wamid.{i}", "sent"), (f"wamid.{i - 1}", "sent"))
        for i in range(1, 41)
    ]
    for document in documents:
        ingest.webhook_payload_ingest(body=json.dumps(document).encode(), source="app")
    expected = {e.event_id for d in documents for e in derive_events(d).events}
    slow_derive = ingest.derive_events

    def derive(document: Any) -> Any:
        time.sleep(0.002)  # keeps both expanders inside their transactions at the same time
        return slow_derive(document)

    monkeypatch.setattr(ingest, "derive_events", derive)
    start = threading.Barrier(2)
    expanded = [0, 0]
    failures: list[BaseException] = []

    def expander(k: int) -> None:
        try:
            start.wait()
            while count := webhook_payloads_expand(limit=3):
                expanded[k] += count
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=expander, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sum(expanded) == len(documents)  # no payload was expanded by both
    assert min(expanded) > 0  # both did work
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == expected
    assert WebhookEvent.objects.count() == len(expected)
    assert _pending() == 0
    assert set(WebhookPayload.objects.values_list("event_count", flat=True)) == {2}
