"""Meta's status webhooks move outbox messages, through the real ingest and processing path:
forward only whatever the order, correlated by our uuid before the wamid is known, failures
split into failed and undelivered, 131047 correcting the window; and the Plivo-style status
callbacks that follow, form-encoded or in the query, signed, retried."""

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
import standardwebhooks
from django.test import Client
from django.utils import timezone

from messaging.models import ConversationWindow, Message, StatusCallback
from messaging.services.callbacks import status_callbacks_send
from messaging.services.endpoints import webhook_secret_rotate
from messaging.services.processing import webhook_events_process
from tests.conftest import Account
from tests.messaging.conftest import PHONE_ID, WABA_ID, entry_doc, post_meta
from tests.messaging.sending import (
    CUSTOMER,
    CallbackReceiver,
    callbacks_receiver,
    open_window,
    sending_waba,
)

pytestmark = pytest.mark.django_db
__all__ = ["callbacks_receiver"]  # the fixture


def make_message(account: Account, **fields: Any) -> Message:
    waba = sending_waba(account.tech_provider)
    number = waba.phone_numbers.get()
    values: dict[str, Any] = {
        "tech_provider": account.tech_provider,
        "waba": waba,
        "sender": number,
        "phone_number_id": PHONE_ID,
        "src": "15550001111",
        "dst": CUSTOMER,
        "kind": "text",
        "content": {"body": "hi"},
        **fields,
    }
    return Message.objects.create(**values)


def status(message: Message, name: str, ts: int, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": extra.pop("wamid", message.wamid or "wamid.S1"),
        "status": name,
        "timestamp": str(ts),
        "recipient_id": CUSTOMER,
        "biz_opaque_callback_data": str(message.uuid),
        **extra,
    }
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
        "statuses": [item],
    }


def deliver(*values: dict[str, Any]) -> None:
    """Each value as its own Meta POST, processed after each one."""
    for value in values:
        post_meta(Client(), entry_doc((WABA_ID, "messages", value)))
        webhook_events_process()


def test_statuses_out_of_order_leave_the_message_at_the_furthest(account: Account) -> None:
    message = make_message(
        account, state="sent", rank=2, wamid="wamid.S1", callback_url="https://tp.example/cb"
    )
    now = int(time.time())
    deliver(
        status(message, "read", now + 2),
        status(message, "delivered", now + 1),
        status(message, "sent", now),
    )
    message.refresh_from_db()
    assert (message.state, message.rank) == ("read", 4)
    assert message.read_at is not None
    assert message.delivered_at is None  # the late delivered moved nothing
    # one callback per move that happened: read only (delivered and sent came late)
    assert list(StatusCallback.objects.values_list("status", "sequence")) == [("read", 1)]


def test_the_same_statuses_in_one_batch_reach_the_same_end(account: Account) -> None:
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1")
    now = int(time.time())
    values = [status(message, s, now) for s in ("read", "sent", "delivered")]
    for value in values:
        post_meta(Client(), entry_doc((WABA_ID, "messages", value)))
    webhook_events_process()
    message.refresh_from_db()
    assert message.state == "read"


def test_a_status_before_our_record_of_the_send_lands_by_uuid(account: Account) -> None:
    """Meta's webhook can beat the worker's write of the wamid; biz_opaque_callback_data
    (our uuid) still finds the message, and the late record of the send moves nothing back."""
    message = make_message(account, state="sending", lease_owner="send-x")
    deliver(status(message, "delivered", int(time.time()), wamid="wamid.EARLY"))
    message.refresh_from_db()
    assert (message.state, message.wamid) == ("delivered", "wamid.EARLY")

    from messaging.services.outbox import message_sent
    from onboarding.graph.types import SentMessage

    message_sent(
        message=message, sent=SentMessage("wamid.EARLY", CUSTOMER, CUSTOMER, ""), owner="send-x"
    )
    message.refresh_from_db()
    assert (message.state, message.lease_owner) == ("delivered", "")


@pytest.mark.parametrize(
    ("code", "state"), [(131026, "undelivered"), (131050, "undelivered"), (132001, "failed")]
)
def test_metas_failures_split_into_undelivered_and_failed(account: Account, code, state) -> None:
    message = make_message(account, state="delivered", rank=3, wamid="wamid.S1")
    errors = [{"code": code, "title": "Message undeliverable"}]
    deliver(status(message, "failed", int(time.time()), errors=errors))
    message.refresh_from_db()
    assert (message.state, message.error_code, message.error_message) == (
        state,
        code,
        "Message undeliverable",
    )
    assert message.failed_at is not None


def test_131047_from_a_status_corrects_our_window(account: Account) -> None:
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1")
    window = open_window(hours_ago=2)
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    deliver(status(message, "failed", int(time.time()), errors=errors))
    window.refresh_from_db()
    assert window.expires_at <= timezone.now()
    message.refresh_from_db()
    assert (message.state, message.error_code) == ("failed", 131047)


def test_a_customer_message_after_the_131047_opens_the_window_again(account: Account) -> None:
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1")
    open_window(hours_ago=2)
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    refused_at = int(time.time()) - 60
    deliver(status(message, "failed", refused_at, errors=errors))
    inbound = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Asha"}, "wa_id": CUSTOMER}],
        "messages": [
            {
                "from": CUSTOMER,
                "id": "wamid.IN",
                "timestamp": str(refused_at + 30),
                "type": "text",
                "text": {"body": "hi"},
            }
        ],
    }
    deliver(inbound)
    assert ConversationWindow.objects.get(wa_id=CUSTOMER).expires_at > timezone.now()


# ---------------------------------------------------------------- status callbacks


def test_callbacks_post_plivos_fields_form_encoded_and_signed(
    account: Account, callbacks_receiver: CallbackReceiver
) -> None:
    secret = webhook_secret_rotate(tech_provider=account.tech_provider).secret
    url = callbacks_receiver.url("/cb")
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1", callback_url=url)
    deliver(status(message, "delivered", int(time.time()), pricing={"category": "utility"}))
    assert status_callbacks_send() == 1
    (request,) = callbacks_receiver.hits
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert fields == {
        "MessageUUID": str(message.uuid),
        "From": "15550001111",
        "To": CUSTOMER,
        "Type": "whatsapp",
        "ContentType": "text",
        "Status": "delivered",
        "ErrorCode": "",
        "MessageTime": fields["MessageTime"],
        "Sequence": "1",
        "WhatsAppMessageID": "wamid.S1",
        "ConversationOrigin": "utility",
    }
    # Standard Webhooks over the form body (the library's verify() would also parse JSON)
    headers = request.headers
    expected = standardwebhooks.Webhook(secret).sign(
        headers["webhook-id"],
        datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC),
        request.body.decode(),
    )
    assert expected in headers["webhook-signature"].split(" ")
    assert StatusCallback.objects.get().state == "succeeded"


def test_callbacks_with_get_carry_the_fields_in_the_query(
    account: Account, callbacks_receiver: CallbackReceiver
) -> None:
    message = make_message(
        account,
        state="sent",
        rank=2,
        wamid="wamid.S1",
        callback_url=callbacks_receiver.url("/cb?tenant=7"),
        callback_method="GET",
    )
    deliver(status(message, "read", int(time.time())))
    status_callbacks_send()
    (request,) = callbacks_receiver.hits
    assert request.method == "GET"
    query = dict(parse_qsl(request.path.split("?", 1)[1]))
    assert (query["tenant"], query["Status"], query["MessageUUID"]) == (
        "7",
        "read",
        str(message.uuid),
    )


def test_a_failing_callback_is_retried_on_plivos_schedule_then_given_up(
    account: Account, callbacks_receiver: CallbackReceiver
) -> None:
    callbacks_receiver.status = 500
    url = callbacks_receiver.url("/cb")
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1", callback_url=url)
    deliver(status(message, "delivered", int(time.time())))
    delays = []
    for _ in range(4):
        StatusCallback.objects.update(next_attempt_at=timezone.now())
        before = timezone.now()
        status_callbacks_send()
        callback = StatusCallback.objects.get()
        if callback.next_attempt_at:
            delays.append(round((callback.next_attempt_at - before).total_seconds()))
    assert delays == [60, 120, 240]
    callback = StatusCallback.objects.get()
    assert (callback.state, callback.attempts, callback.last_status_code) == ("failed", 4, 500)


def test_a_callback_to_a_private_address_is_refused_at_once(
    account: Account, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    settings.WEBHOOK_ALLOW_HTTP = True
    url = "http://127.0.0.1:9/cb"
    message = make_message(account, state="sent", rank=2, wamid="wamid.S1", callback_url=url)
    deliver(status(message, "delivered", int(time.time())))
    status_callbacks_send()
    callback = StatusCallback.objects.get()
    assert (callback.state, callback.attempts) == ("failed", 1)
    assert "loopback" in callback.last_error or "not allowed" in callback.last_error


def test_two_moves_from_stale_copies_number_their_callbacks_in_the_database(
    account: Account,
) -> None:
    """A pump and a webhook may move one message at once, each with its own copy of the row."""
    from messaging.services.message_states import message_moved

    message = make_message(account, wamid="wamid.S1", callback_url="https://tp.example/cb")
    first, second = Message.objects.get(pk=message.pk), Message.objects.get(pk=message.pk)
    message_moved(message=first, state="sent")
    message_moved(message=second, state="delivered")  # its callback_sequence is stale (0)
    assert list(StatusCallback.objects.order_by("sequence").values_list("sequence", "status")) == [
        (1, "sent"),
        (2, "delivered"),
    ]
