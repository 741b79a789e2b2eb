"""The send pump against Graph (faked with `responses`): what goes to Meta, retries by error class,
131047 correcting the window, the fallback at send time, lost answers, expiry and the sweep."""

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import ConversationWindow, Delivery, Message, MessageStatus, StatusCallback
from messaging.services import send_pump
from messaging.services.outbox import messages_sweep
from tests.conftest import Account
from tests.messaging.conftest import PHONE_ID
from tests.messaging.sending import (
    CUSTOMER,
    SEND_URL,
    approved_template,
    body,
    graph,
    graph_error,
    message,
    open_window,
    sending_waba,
    sent_bodies,
    sent_json,
    template_ref,
)

pytestmark = pytest.mark.django_db
__all__ = ["graph"]  # the fixture


def queue(api: APIClient, account: Account, **fields: Any) -> str:
    response = api.post(account.url("Message/"), body(**fields), format="json")
    assert response.status_code == 202, response.content
    return str(response.json()["message_uuid"][0])


def pump() -> send_pump.PumpResult:
    return send_pump.messages_send(budget_s=5, grace_s=0)


def due_now() -> None:
    Message.objects.update(next_attempt_at=timezone.now())


@pytest.fixture
def waba(account: Account) -> Any:
    waba = sending_waba(account.tech_provider)
    open_window()
    return waba


def test_a_text_goes_to_meta_with_our_uuid_and_becomes_sent(api, account, waba, graph) -> None:
    graph.post(SEND_URL, json=sent_json("wamid.A"))
    uuid = queue(api, account, text="Your order shipped", url="https://tp.example/cb")
    result = pump()
    assert (result.sent, result.failed) == (1, 0)
    (sent,) = sent_bodies(graph)
    assert sent == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Your order shipped", "preview_url": False},
        "biz_opaque_callback_data": uuid,
    }
    row = message()
    assert (row.state, row.wamid, row.attempts, row.lease_owner) == ("sent", "wamid.A", 1, "")
    assert row.sent_at is not None
    callback = StatusCallback.objects.get()
    assert (callback.status, callback.sequence, callback.url) == (
        "sent",
        1,
        "https://tp.example/cb",
    )
    assert callback.params["MessageUUID"] == uuid
    assert callback.params["Status"] == "sent"


def test_a_transient_error_is_retried_later_then_sent(api, account, waba, graph) -> None:
    graph.post(SEND_URL, **graph_error(2, "Service temporarily unavailable", 503))
    queue(api, account, text="hi")
    result = pump()
    assert (result.sent, result.retried) == (0, 1)
    row = message()
    assert (row.state, row.attempts, row.error_code) == ("queued", 1, 2)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > timezone.now()  # in the database, not a broker countdown
    assert pump().sent == 0  # not due yet
    graph.replace(responses.POST, SEND_URL, json=sent_json())
    due_now()
    assert pump().sent == 1
    assert message().state == "sent"
    assert message().error_code is None


def test_a_permanent_error_fails_the_message_with_metas_code(api, account, waba, graph) -> None:
    graph.post(
        SEND_URL,
        **graph_error(131009, "Parameter value is not valid", error_data={"details": "bad"}),
    )
    queue(api, account, text="hi", url="https://tp.example/cb")
    assert pump().failed == 1
    row = message()
    assert (row.state, row.error_code) == ("failed", 131009)
    assert row.error_message == "Meta refused the message: Parameter value is not valid bad"
    assert len(sent_bodies(graph)) == 1  # never retried
    assert StatusCallback.objects.get().params["ErrorCode"] == "131009"
    event = Delivery.objects.get(event_type="message.failed")  # Meta will send no event
    assert json.loads(event.body)["data"]["message_uuid"] == str(row.uuid)


def test_131047_closes_our_window_and_the_fallback_goes_instead(api, account, waba, graph) -> None:
    approved_template(waba, "we_miss_you", components=[{"type": "BODY", "text": "Hello!"}])
    graph.post(SEND_URL, **graph_error(131047, "Re-engagement message"))
    graph.post(SEND_URL, json=sent_json("wamid.F"))
    fallback = {"name": "we_miss_you", "language": "en_US"}
    queue(api, account, text="hi", fallback_template=fallback)
    pump()
    first, second = sent_bodies(graph)
    assert first["type"] == "text"
    assert second["type"] == "template"
    assert second["template"] == {"name": "we_miss_you", "language": {"code": "en_US"}}
    row = message()
    assert (row.state, row.fallback_used, row.wamid) == ("sent", True, "wamid.F")
    window = ConversationWindow.objects.get(wa_id=CUSTOMER)
    assert window.expires_at <= timezone.now()  # Meta's word wins


def test_131047_without_a_fallback_fails_the_message(api, account, waba, graph) -> None:
    graph.post(SEND_URL, **graph_error(131047, "Re-engagement message"))
    queue(api, account, text="hi")
    pump()
    assert (message().state, message().error_code) == ("failed", 131047)
    refused = api.post(account.url("Message/"), body(text="again"), format="json")
    assert refused.status_code == 400  # our view of the window was corrected
    assert "window is closed" in refused.json()["error"]


def test_a_window_that_closed_while_queued_uses_the_fallback_without_asking_meta(
    api, account, waba, graph
) -> None:
    approved_template(waba, "we_miss_you", components=[{"type": "BODY", "text": "Hello!"}])
    graph.post(SEND_URL, json=sent_json())
    queue(api, account, text="hi", fallback_template={"name": "we_miss_you", "language": "en_US"})
    ConversationWindow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    pump()
    (sent,) = sent_bodies(graph)
    assert sent["type"] == "template"
    assert message().fallback_used is True


def test_a_template_paused_after_it_was_queued_is_refused_before_meta(
    api, account, waba, graph
) -> None:
    template = approved_template(waba)
    queue(api, account, template=template_ref())
    template.status = "PAUSED"
    template.save()
    pump()
    assert sent_bodies(graph) == []
    row = message()
    assert (row.state, row.error_code) == ("failed", 132015)
    assert row.error_message.endswith("is PAUSED: only APPROVED templates can be sent.")


def test_throughput_errors_slow_the_number_down_and_retry(
    api, account, waba, graph, monkeypatch
) -> None:
    penalties: list[tuple[str, float]] = []
    limiter = send_pump.limiter_get()
    monkeypatch.setattr(
        limiter, "penalize", lambda *, key, seconds: penalties.append((key, seconds))
    )
    graph.post(SEND_URL, **graph_error(130429, "Rate limit hit"))
    queue(api, account, text="hi")
    result = pump()
    assert result.retried == 1
    assert penalties == [(f"msglimit:num:{PHONE_ID}", 1.0)]
    assert message().state == "queued"


def test_a_lost_answer_is_not_sent_again_when_a_status_shows_it_reached_meta(
    api, account, waba, graph
) -> None:
    graph.post(SEND_URL, body=requests.ConnectTimeout("no answer"))
    uuid = queue(api, account, text="hi")
    pump()
    row = message()
    assert (row.state, row.outcome_unknown) == ("queued", True)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=25)  # waits for a status
    MessageStatus.objects.create(  # the webhook of the send whose answer we lost
        wamid="wamid.LOST",
        phone_number_id=PHONE_ID,
        recipient_id=CUSTOMER,
        status="delivered",
        rank=2,
        biz_opaque_callback_data=uuid,
    )
    due_now()
    pump()
    assert len(sent_bodies(graph)) == 1  # not sent twice
    row = message()
    assert (row.state, row.wamid, row.outcome_unknown, row.lease_owner) == (
        "delivered",
        "wamid.LOST",
        False,
        "",
    )


def test_a_lost_answer_without_any_status_is_sent_again(api, account, waba, graph) -> None:
    graph.post(SEND_URL, body=requests.ConnectTimeout("no answer"))
    graph.post(SEND_URL, json=sent_json())
    queue(api, account, text="hi")
    pump()
    due_now()
    pump()
    assert len(sent_bodies(graph)) == 2
    assert message().state == "sent"


def test_message_expiry_fails_what_could_not_be_sent_in_time(api, account, waba, graph) -> None:
    queue(api, account, text="hi", message_expiry=5)
    Message.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    pump()
    assert sent_bodies(graph) == []
    row = message()
    assert row.state == "failed"
    assert row.error_message == "message_expiry passed before the message could be sent."


def test_the_sweep_requeues_messages_of_a_vanished_pump_to_look_first(api, account, waba) -> None:
    queue(api, account, text="hi")
    Message.objects.update(
        state="sending",
        lease_owner="send-dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert messages_sweep() == {"orphaned": 1, "expired": 0}
    row = message()
    assert (row.state, row.lease_owner, row.outcome_unknown) == ("queued", "", True)


def test_an_offboarded_waba_sends_nothing(api, account, waba, graph) -> None:
    queue(api, account, text="hi")
    waba.status = "offboarded"
    waba.save()
    pump()
    assert sent_bodies(graph) == []
    assert message().state == "failed"


def test_the_pair_rate_defers_more_messages_to_one_recipient(
    api, account, waba, graph, settings
) -> None:
    settings.MESSAGE_PAIR_BURST = 1  # one message per 6 s to one recipient, no burst
    graph.post(SEND_URL, json=sent_json())
    for n in range(3):
        queue(api, account, text=f"part {n}")
    result = pump()
    assert (result.sent, result.throttled) == (1, 2)
    assert len(sent_bodies(graph)) == 1
    waiting = Message.objects.filter(state="queued")
    assert waiting.count() == 2
    soonest = min(m.next_attempt_at for m in waiting if m.next_attempt_at)
    assert soonest >= timezone.now() + timedelta(seconds=5)  # Meta's 6 s between two
    assert all(m.attempts == 0 for m in waiting)  # no call was spent on them
