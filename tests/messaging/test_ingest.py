"""Meta ingest: the GET handshake, the signature on the raw bytes, size limits, storage, dedupe."""

import json
from typing import Any

import pytest
from django.test import Client

from messaging.models import WebhookEvent, WebhookPayload
from messaging.signing import meta_signature, meta_signature_valid
from tests.conftest import make_account
from tests.messaging.conftest import WABA_ID, fixture, make_waba, post_meta

pytestmark = pytest.mark.django_db

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
    def test_a_valid_signature_stores_the_body_and_its_events(
        self, client: Client, published: list[str], django_capture_on_commit_callbacks: Any
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_meta(client, fixture("messages_text"))
        assert response.status_code == 200
        payload = WebhookPayload.objects.get()
        assert bytes(payload.body) == json.dumps(fixture("messages_text")).encode()
        event = WebhookEvent.objects.get()
        assert (event.event_type, event.state) == ("message.received", "pending")
        assert published == ["messaging.webhook_events_process"]

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
        assert WebhookEvent.objects.count() == 1

    def test_a_signed_body_that_is_not_json_is_kept_with_no_events(self, client: Client) -> None:
        assert post_meta(client, b"not json at all").status_code == 200
        payload = WebhookPayload.objects.get()
        assert payload.parse_error == "the body is not JSON"
        assert not WebhookEvent.objects.exists()

    def test_a_per_waba_post_records_the_path(self, client: Client) -> None:
        path = f"/webhooks/meta/waba/{WABA_ID}/"
        assert post_meta(client, fixture("status_delivered"), path=path).status_code == 200
        event = WebhookEvent.objects.get()
        assert (event.path_waba_id, WebhookPayload.objects.get().source) == (WABA_ID, "waba")
