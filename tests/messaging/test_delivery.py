"""Delivery to Tech Providers against a real local receiver: Standard Webhooks signatures (also
mid-rotation), the retry schedule, 3xx, 410, 429, timeouts, auto-disable (controlled clock),
capped response bodies, every attempt recorded, and one slow endpoint not slowing another.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import standardwebhooks
import time_machine
from django.conf import settings as django_settings

from messaging.models import Delivery, DeliveryAttempt
from messaging.services.deliveries import tech_provider_event_deliver
from messaging.services.endpoints import webhook_secret_rotate
from messaging.services.pump import deliveries_pump
from onboarding.models import TechProvider
from tests.conftest import Account, make_account
from tests.messaging.receiver import Receiver, Reply

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def deliver(account: Account, key: str = "1", **data: Any) -> Delivery:
    tech_provider = TechProvider.objects.get(pk=account.tech_provider.pk)
    return tech_provider_event_deliver(
        tech_provider=tech_provider, event_type="test.ping", data={"key": key, **data}, key=key
    )


def attempts_of(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("id"))


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def canary() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


class TestSignatures:
    def test_a_delivery_verifies_with_the_standardwebhooks_package(
        self, tp_with_endpoint: Account, receiver: Receiver
    ) -> None:
        delivery = deliver(tp_with_endpoint, n=1)
        stats = deliveries_pump(budget_s=5)
        assert (stats.attempts, stats.succeeded) == (1, 1)
        [request] = receiver.received
        secret = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk).webhook_secret
        body = receiver.verify(request, secret)
        assert body["id"] == request.headers["webhook-id"] == delivery.webhook_id
        assert (body["type"], body["data"]) == ("test.ping", {"key": "1", "n": 1})
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
        delivery.refresh_from_db()
        assert (delivery.state, delivery.last_status_code) == ("succeeded", 200)

    def test_mid_rotation_both_the_old_and_the_new_secret_verify(
        self, tp_with_endpoint: Account, receiver: Receiver
    ) -> None:
        tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
        old = tech_provider.webhook_secret
        new = webhook_secret_rotate(tech_provider=tech_provider, grace_s=3600).secret
        deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        [request] = receiver.received
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        assert receiver.verify(request, old)["type"] == "test.ping"
        assert receiver.verify(request, new)["type"] == "test.ping"

    def test_after_the_grace_period_only_the_new_secret_signs(
        self, tp_with_endpoint: Account, receiver: Receiver, clock: Any
    ) -> None:
        tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
        old = tech_provider.webhook_secret
        new = webhook_secret_rotate(tech_provider=tech_provider, grace_s=60).secret
        clock.shift(61)
        deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        [request] = receiver.received
        assert receiver.verify(request, new)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            receiver.verify(request, old)


class TestRetries:
    def test_failures_follow_the_schedule_with_jitter_then_dead_letter(
        self, tp_with_endpoint: Account, receiver: Receiver, clock: Any
    ) -> None:
        receiver.reply = lambda request: Reply(500, body=b"down")
        delivery = deliver(tp_with_endpoint)
        for _ in range(15):
            deliveries_pump(budget_s=5)
            delivery.refresh_from_db()
            if delivery.state != "pending":
                break
            clock.move_to(delivery.next_attempt_at)
        attempts = attempts_of(delivery)
        schedule = django_settings.WEBHOOK_RETRY_SCHEDULE_S
        assert [a.number for a in attempts] == list(range(1, 11))
        assert len(receiver.received) == 10
        for before, after, planned in zip(attempts, attempts[1:], schedule[1:], strict=False):
            offset = (after.started_at - before.started_at).total_seconds()
            assert planned * 0.8 <= offset <= planned * 1.2
        total = (attempts[-1].started_at - attempts[0].started_at).total_seconds() / 3600
        assert 60 < total < 91  # about 75.6 hours
        assert (delivery.state, delivery.next_attempt_at) == ("dead", None)
        clock.shift(timedelta(days=10))
        assert deliveries_pump(budget_s=2).attempts == 0

    def test_a_redirect_is_a_failure_and_never_followed(
        self, tp_with_endpoint: Account, receiver: Receiver, canary: Receiver
    ) -> None:
        receiver.reply = lambda request: Reply(302, {"Location": canary.url("/latest/meta-data")})
        delivery = deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        [attempt] = attempts_of(delivery)
        assert (attempt.outcome, attempt.status_code) == ("redirect", 302)
        assert "not followed" in attempt.error
        assert canary.received == []
        delivery.refresh_from_db()
        assert delivery.state == "pending"
        assert delivery.next_attempt_at is not None

    def test_410_disables_the_endpoint_and_tells_the_tech_provider(
        self, tp_with_endpoint: Account, receiver: Receiver
    ) -> None:
        receiver.reply = lambda request: Reply(410)
        delivery = deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        delivery.refresh_from_db()
        tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
        assert delivery.state == "failed"
        assert tech_provider.webhook_disabled_at is not None
        assert "410" in tech_provider.webhook_disabled_reason
        notice = Delivery.objects.get(event_type="endpoint.disabled")
        assert notice.state == "failed"  # kept, and replayable once the URL is set again
        later = deliver(tp_with_endpoint, key="2")
        assert later.state == "failed"
        assert deliveries_pump(budget_s=2).attempts == 0
        assert len(receiver.received) == 1

    @pytest.mark.parametrize("header", ["120", "HTTP-DATE"])
    def test_429_waits_at_least_retry_after(
        self, tp_with_endpoint: Account, receiver: Receiver, clock: Any, header: str
    ) -> None:
        if header == "HTTP-DATE":
            header = (START + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        receiver.reply = lambda request: Reply(429, {"Retry-After": header})
        delivery = deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        delivery.refresh_from_db()
        assert delivery.next_attempt_at is not None
        assert (delivery.next_attempt_at - START).total_seconds() >= 120
        clock.shift(100)
        assert deliveries_pump(budget_s=2).attempts == 0
        receiver.reply = lambda request: Reply(200)
        clock.shift(21)
        assert deliveries_pump(budget_s=2).succeeded == 1

    def test_a_timeout_is_a_failure(
        self, tp_with_endpoint: Account, receiver: Receiver, settings: Any
    ) -> None:
        assert django_settings.WEBHOOK_TIMEOUT_S == 15.0  # the default
        settings.WEBHOOK_TIMEOUT_S = 0.5
        receiver.reply = lambda request: Reply(200, delay_s=2)
        delivery = deliver(tp_with_endpoint)
        deliveries_pump(budget_s=5)
        [attempt] = attempts_of(delivery)
        assert attempt.outcome == "timeout"
        assert attempt.duration_ms < 1500
        delivery.refresh_from_db()
        assert delivery.state == "pending"

    def test_a_huge_response_body_is_read_only_up_to_the_cap(
        self, tp_with_endpoint: Account, receiver: Receiver
    ) -> None:
        receiver.reply = lambda request: Reply(200, body=b"x" * (8 * 1024 * 1024))
        delivery = deliver(tp_with_endpoint)
        started = time.monotonic()
        deliveries_pump(budget_s=5)
        [attempt] = attempts_of(delivery)
        assert attempt.outcome == "succeeded"
        assert len(attempt.response_excerpt) == 1024
        assert time.monotonic() - started < 3


class TestAutoDisable:
    def _run_days(self, account: Account, clock: Any, days: float, start: int = 0) -> None:
        for step in range(start, start + int(days * 2)):
            deliver(account, key=f"k{step}")
            deliveries_pump(budget_s=5)
            clock.shift(timedelta(hours=12))

    def test_an_endpoint_failing_for_5_days_is_disabled(
        self, tp_with_endpoint: Account, receiver: Receiver, clock: Any
    ) -> None:
        receiver.reply = lambda request: Reply(503)
        self._run_days(tp_with_endpoint, clock, 4.5)
        assert (
            TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk).webhook_disabled_at
            is None
        )
        self._run_days(tp_with_endpoint, clock, 1, start=9)
        tech_provider = TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk)
        assert tech_provider.webhook_disabled_at is not None
        assert "5 days" in tech_provider.webhook_disabled_reason
        assert Delivery.objects.filter(event_type="endpoint.disabled").count() == 1
        assert not Delivery.objects.filter(state="pending").exists()

    def test_one_success_inside_the_window_keeps_it_enabled(
        self, tp_with_endpoint: Account, receiver: Receiver, clock: Any
    ) -> None:
        receiver.reply = lambda request: Reply(503)
        self._run_days(tp_with_endpoint, clock, 3)
        receiver.reply = lambda request: Reply(200)
        self._run_days(tp_with_endpoint, clock, 0.5, start=6)
        receiver.reply = lambda request: Reply(503)
        self._run_days(tp_with_endpoint, clock, 3, start=7)
        assert (
            TechProvider.objects.get(pk=tp_with_endpoint.tech_provider.pk).webhook_disabled_at
            is None
        )


def test_one_slow_tech_provider_does_not_delay_another(
    tp_with_endpoint: Account, receiver: Receiver, canary: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 4
    settings.WEBHOOK_PUMP_THREADS = 16
    receiver.reply = lambda request: Reply(200, delay_s=1.5)  # the slow one
    fast = make_account("Fast ISV")
    TechProvider.objects.filter(pk=fast.tech_provider.pk).update(webhook_url=canary.url())
    for i in range(12):
        deliver(tp_with_endpoint, key=f"slow{i}")
    for i in range(30):
        deliver(fast, key=f"fast{i}")
    started = time.time()
    stats = deliveries_pump(budget_s=20)
    assert stats.succeeded == 42
    fast_done = max(r.at for r in canary.received) - started
    slow_done = max(r.at for r in receiver.received) - started
    assert fast_done < 1.5 < slow_done
    assert DeliveryAttempt.objects.count() == 42
