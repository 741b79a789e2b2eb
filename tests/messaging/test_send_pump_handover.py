"""The send pump's hand-over: a jittered budget, so pumps started together end apart, and a pump
that runs out of budget queues its successor and hands back what it holds, due at once."""

import itertools
import json
import random
from typing import Any

import pytest
import responses
from django.utils import timezone

from messaging.models import Message, NumberHealth
from messaging.services import send_pump
from messaging.services.limiter import DatabaseLimiter
from tests.conftest import Account
from tests.messaging.sending import (
    SEND_URL,
    body,
    graph,
    number,
    open_window,
    sending_waba,
    sent_json,
)

pytestmark = pytest.mark.django_db
__all__ = ["graph"]  # the fixture


@pytest.fixture
def successors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    queued: list[str] = []
    monkeypatch.setattr(send_pump.current_app, "send_task", lambda name, **_: queued.append(name))
    return queued


def meta_sends(graph: Any) -> None:
    """Graph answers every send with a new wamid."""
    count = itertools.count()
    graph.add_callback(
        responses.POST,
        SEND_URL,
        callback=lambda _: (200, {}, json.dumps(sent_json(f"wamid.{next(count)}"))),
    )


def queue_many(api: Any, account: Account, count: int, mps: int) -> None:
    sending_waba(account.tech_provider)
    open_window()
    NumberHealth.objects.create(number=number(), mps_override=mps)
    for n in range(count):
        response = api.post(account.url("Message/"), body(text=f"part {n}"), format="json")
        assert response.status_code == 202, response.content


def test_the_budget_is_jittered_down_by_at_most_a_quarter(settings) -> None:
    settings.MESSAGE_SEND_BUDGET_S = 20.0
    budgets = [send_pump.budget_jittered(rng=random.Random(seed)) for seed in range(50)]
    assert all(15.0 <= b <= 20.0 for b in budgets)
    assert max(budgets) - min(budgets) > 2.5  # pumps started together do not end together
    assert 7.5 <= send_pump.budget_jittered(10.0) <= 10.0


def test_a_pump_out_of_budget_queues_its_successor_and_hands_back(
    api, account, graph, successors
) -> None:
    meta_sends(graph)
    queue_many(api, account, 10, mps=2)  # 1.7/s after the headroom: 10 take about 6 s
    pump = send_pump.SendPump(threads=4, limiter=DatabaseLimiter())
    result = pump.run(budget_s=0.8, grace_s=0)
    assert successors == ["messaging.messages_send"]
    assert 1 <= result.sent <= 2
    waiting = Message.objects.filter(state="queued")
    assert waiting.count() == 10 - result.sent
    assert all(m.lease_owner == "" for m in waiting)
    assert all(m.next_attempt_at and m.next_attempt_at <= timezone.now() for m in waiting)


def test_a_pump_that_ran_out_of_work_queues_no_successor(api, account, graph, successors) -> None:
    meta_sends(graph)
    queue_many(api, account, 2, mps=80)
    result = send_pump.SendPump(threads=4, limiter=DatabaseLimiter()).run(budget_s=5, grace_s=0)
    assert result.sent == 2
    assert successors == []
