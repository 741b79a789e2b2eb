"""Claiming due outbox messages: at most a second's sends of each number per claim (so several
numbers are claimed at once and pumps share a number), oldest first, and two claims at once never
take the same row (PostgreSQL's SKIP LOCKED, the window in a subquery)."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Message, NumberHealth
from messaging.services.limiter import throughput_mps, throughput_mps_expression
from messaging.services.outbox import messages_claim
from onboarding.models import PhoneNumber
from tests.conftest import Account
from tests.messaging.conftest import make_waba

NUMBERS = ("500000000000001", "500000000000002", "500000000000003")


def numbers(account: Account, mps: tuple[int | None, ...] = (5, 5, 5)) -> list[PhoneNumber]:
    waba = make_waba(account.tech_provider, "211111111111111", None)
    phones = []
    for n, (phone_number_id, override) in enumerate(zip(NUMBERS, mps, strict=True)):
        phone = PhoneNumber.objects.create(
            waba=waba,
            phone_number_id=phone_number_id,
            display_phone_number=f"1555000200{n}",
            registration=PhoneNumber.Registration.REGISTERED,
        )
        NumberHealth.objects.create(number=phone, mps_override=override)
        phones.append(phone)
    return phones


def queue(account: Account, phone: PhoneNumber, count: int, *, ago_s: float = 10.0) -> None:
    at = timezone.now() - timedelta(seconds=ago_s)
    Message.objects.bulk_create(
        Message(
            tech_provider=account.tech_provider,
            waba=phone.waba,
            sender=phone,
            phone_number_id=phone.phone_number_id,
            src=phone.display_phone_number,
            dst=f"9198{n:08d}",
            kind="text",
            content={"body": "hi"},
            next_attempt_at=at + timedelta(microseconds=n),
        )
        for n in range(count)
    )


def by_number(claimed: list[Message]) -> Counter[str]:
    return Counter(m.phone_number_id for m in claimed)


@pytest.mark.django_db
def test_a_claim_takes_a_seconds_worth_of_each_number_and_all_of_them(account) -> None:
    a, b, c = numbers(account, (5, 3, None))  # c: Meta's default, 80/s
    queue(account, a, 30, ago_s=30)  # a's whole queue is older than the others'
    queue(account, b, 30, ago_s=20)
    queue(account, c, 60, ago_s=10)
    claimed = messages_claim(owner="pump-1", limit=64)
    assert by_number(claimed) == {a.phone_number_id: 5, b.phone_number_id: 3, c.phone_number_id: 56}
    assert all(m.state == "sending" and m.lease_owner == "pump-1" for m in claimed)
    oldest_of_a = Message.objects.filter(sender=a).order_by("next_attempt_at", "id")[:5]
    assert {m.id for m in claimed if m.sender_id == a.id} == {m.id for m in oldest_of_a}
    assert Message.objects.filter(state="queued").count() == 120 - 64


@pytest.mark.django_db
def test_a_claim_looks_at_the_queues_head_and_past_numbers_the_pump_has_enough_of(
    account,
) -> None:
    a, b, c = numbers(account)
    queue(account, a, 200, ago_s=30)  # more than the head a claim of 16 looks at (32)
    queue(account, b, 10, ago_s=20)
    queue(account, c, 10, ago_s=10)
    assert by_number(messages_claim(owner="pump-1", limit=16)) == {a.phone_number_id: 5}
    later = messages_claim(owner="pump-1", limit=16, exclude={a.phone_number_id})
    assert by_number(later) == {b.phone_number_id: 5, c.phone_number_id: 5}


@pytest.mark.django_db
def test_the_next_claim_takes_the_next_second_and_skips_full_numbers(account) -> None:
    a, b, c = numbers(account)
    for phone in (a, b, c):
        queue(account, phone, 20)
    first = messages_claim(owner="pump-1", limit=64)
    second = messages_claim(owner="pump-2", limit=64, exclude={a.phone_number_id})
    assert by_number(first) == dict.fromkeys(NUMBERS, 5)
    assert by_number(second) == {b.phone_number_id: 5, c.phone_number_id: 5}
    assert not {m.id for m in first} & {m.id for m in second}


@pytest.mark.django_db
def test_what_is_not_due_or_already_claimed_is_left(account) -> None:
    (a, *_) = numbers(account)
    queue(account, a, 3)
    queue(account, a, 3, ago_s=-60)  # due in a minute
    assert len(messages_claim(owner="pump-1", limit=64)) == 3
    assert messages_claim(owner="pump-2", limit=64) == []


@pytest.mark.django_db
def test_the_database_expression_of_a_numbers_rate_agrees_with_throughput_mps(account) -> None:
    a, b, c = phones = numbers(account, (7, 0, None))
    b.is_coexistence = True  # an override of 0 is no override
    b.save()
    c.throughput_level = "high"
    c.save()
    got, expected = [], []
    for phone in phones:
        queue(account, phone, 1)
        row = Message.objects.annotate(mps=throughput_mps_expression("sender")).get(sender=phone)
        got.append(row.mps)
        override = NumberHealth.objects.get(number=phone).mps_override
        expected.append(
            throughput_mps(
                is_coexistence=phone.is_coexistence,
                throughput_level=phone.throughput_level,
                override=override,
            )
        )
    assert got == expected == [7, 20, 1000]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
def test_claims_at_once_never_take_the_same_row(account) -> None:
    phones = numbers(account, (40, 40, 40))
    for phone in phones:
        queue(account, phone, 300)
    taken: list[list[int]] = []
    start = threading.Barrier(4)

    def claim(owner: str) -> None:
        try:
            start.wait()
            mine: list[int] = []
            while batch := messages_claim(owner=owner, limit=16):
                mine += [m.id for m in batch]
            taken.append(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"pump-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [i for mine in taken for i in mine]
    assert len(taken) == 4
    assert len(every) == len(set(every)) == 900  # all claimed, none twice
    assert sum(bool(mine) for mine in taken) >= 2  # they did claim side by side
    owners = Counter(Message.objects.values_list("lease_owner", flat=True))
    assert sum(owners.values()) == 900
    assert all(owner.startswith("pump-") for owner in owners)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
def test_a_claim_beside_one_in_progress_takes_the_rows_after_it(account) -> None:
    (a, b, _) = numbers(account, (5, 5, 5))
    queue(account, a, 20, ago_s=20)
    queue(account, b, 20, ago_s=10)
    head = list(Message.objects.order_by("next_attempt_at", "id").values_list("id", flat=True)[:8])
    locked, release = threading.Event(), threading.Event()

    def claim_in_progress() -> None:
        try:
            with transaction.atomic():
                list(Message.objects.select_for_update().filter(id__in=head))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    other = threading.Thread(target=claim_in_progress)
    other.start()
    try:
        assert locked.wait(timeout=30)
        claimed = messages_claim(owner="pump-2", limit=64)
    finally:
        release.set()
        other.join(timeout=30)
    assert not {m.id for m in claimed} & set(head)
    assert by_number(claimed) == {a.phone_number_id: 5, b.phone_number_id: 5}
