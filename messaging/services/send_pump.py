"""The send pump: takes due outbox messages and sends them through the Graph client, each number
paced by the shared limiter, several calls in flight at once.

A pump runs inside a worker process (the `messages_send` task, nudged by the API and run by beat
every second; several may run at once on several machines). It claims due messages under a lease
into a backlog per sending number, about a second's worth each, asks the limiter (shared through
Redis) before every send, and sends on a thread pool: threads only make Graph calls, every
database write stays on the pump's thread. A number the limiter holds back waits in the backlog
without holding the others up; a recipient held back by the pair rate goes back to the queue
until it is due. A claim takes at most a second's sends of each number, so pumps running at once
share a busy number and each keeps several numbers going. The budget is jittered so that pumps
started together do not all stop together; when its budget ends the pump queues its successor,
then hands back what it did not send, so the numbers are not left idle until beat's next tick.
After the last message it keeps looking for a short grace period longer than the API's nudge
debounce, so a message accepted while the pump was finishing is not left for beat. A pump that
finds nothing due at all (most beat ticks) returns at once.
"""

import logging
import math
import random
import secrets
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from celery import current_app
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from messaging.models import Message, NumberHealth
from messaging.services import outbox
from messaging.services.limiter import Limiter, limiter_get, number_key, pair_key, throughput_mps
from onboarding.graph import GraphClient, GraphError
from onboarding.graph.types import SentMessage
from onboarding.models import WhatsAppBusinessAccount
from onboarding.services.meta import graph_client_for_waba

logger = logging.getLogger(__name__)

_GRACE_S = 0.5  # longer than the API's nudge debounce (WEBHOOK_KICK_INTERVAL_S)
_HOLD_MAX_S = 2.0  # a number held back longer than this goes back to the queue
_POLL_S = 0.02
_SCAN = 8  # how far into a number's backlog to look for a recipient not already in flight
_CLAIM_INTERVAL_S = 0.05
_BUDGET_JITTER = 0.25  # a run lasts between 75 % and all of its budget
SEND_MESSAGES = "messaging.messages_send"


@dataclass
class PumpResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    throttled: int = 0
    claimed: int = 0
    settled: int = 0  # claimed, then failed, switched or adopted without a call


@dataclass
class _Number:
    mps: int
    backlog: deque[Message] = field(default_factory=deque)
    ready_at: float = 0.0  # monotonic time before which the limiter said no


def _session(threads: int) -> requests.Session:
    """One keep-alive pool sized for the pump's threads; no retries below Celery's."""
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=4, pool_maxsize=threads, max_retries=Retry(total=0, read=False)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _send(client: GraphClient, message: Message) -> SentMessage:
    return client.send_message(
        message.phone_number_id,
        to=message.dst,
        type=message.kind,
        content=message.content,
        biz_opaque_callback_data=str(message.uuid),
    )


class SendPump:
    def __init__(self, *, threads: int | None = None, limiter: Limiter | None = None) -> None:
        self.owner = "send-" + secrets.token_hex(8)
        self.threads = threads or int(settings.MESSAGE_SEND_THREADS)
        self.limiter = limiter or limiter_get()
        self.numbers: dict[str, _Number] = {}
        self.inflight: dict[Future[SentMessage], Message] = {}
        self.busy_pairs: set[tuple[str, str]] = set()
        self.clients: dict[int, GraphClient] = {}
        self.result = PumpResult()
        self._session = _session(self.threads)
        self._overrides: dict[int, int | None] = {}
        self._claimed_at = 0.0

    # ------------------------------------------------------------ claiming

    def _mps(self, message: Message) -> int:
        number = message.sender
        if number.pk not in self._overrides:
            health = NumberHealth.objects.filter(number=number).first()
            self._overrides[number.pk] = health.mps_override if health else None
        return throughput_mps(
            is_coexistence=number.is_coexistence,
            throughput_level=number.throughput_level,
            override=self._overrides[number.pk],
        )

    def _full(self) -> set[str]:
        """Numbers with a second's sends in hand: claim no more of them for now."""
        return {
            pid for pid, n in self.numbers.items() if len(n.backlog) >= max(1, math.ceil(n.mps))
        }

    def _claim(self) -> int:
        backlog = sum(len(n.backlog) for n in self.numbers.values())
        if backlog >= 2 * self.threads:
            return -1  # enough in hand
        now = time.monotonic()
        if backlog and now - self._claimed_at < _CLAIM_INTERVAL_S:
            return -1  # not a query per loop while there is work in hand
        self._claimed_at = now
        claimed = outbox.messages_claim(
            owner=self.owner, limit=4 * self.threads, exclude=self._full()
        )
        ready = outbox.messages_ready(messages=claimed, owner=self.owner)
        self.result.claimed += len(claimed)
        self.result.settled += len(claimed) - len(ready)
        for message in ready:
            number = self.numbers.get(message.phone_number_id)
            if number is None:
                number = self.numbers[message.phone_number_id] = _Number(self._mps(message))
            number.backlog.append(message)
        return len(claimed)

    # ------------------------------------------------------------ dispatching

    def _client(self, waba: WhatsAppBusinessAccount) -> GraphClient:
        client = self.clients.get(waba.pk)
        if client is None:
            client = graph_client_for_waba(waba).with_session(self._session)
            self.clients[waba.pk] = client
        return client

    def _next_of(self, number: _Number) -> Message | None:
        for index, message in enumerate(list(number.backlog)[:_SCAN]):
            if (message.phone_number_id, message.dst) not in self.busy_pairs:
                del number.backlog[index]
                return message
        return None

    def _defer(self, message: Message, wait_s: float) -> None:
        at = timezone.now() + timedelta(seconds=wait_s)
        outbox.message_release(message=message, owner=self.owner, at=at)
        self.result.throttled += 1

    def _dispatch_one(self, number: _Number, executor: ThreadPoolExecutor, now: float) -> bool:
        message = self._next_of(number)
        if message is None:
            return False
        mps = number.mps
        grant = self.limiter.acquire(
            phone_number_id=message.phone_number_id, wa_id=message.dst, mps=mps
        )
        if not grant.allowed and grant.limit == "pair":
            self._defer(message, grant.wait_s)
            return True
        if not grant.allowed:
            number.backlog.appendleft(message)
            number.ready_at = now + grant.wait_s
            if grant.wait_s > _HOLD_MAX_S:  # penalized: give the rest back until then
                while number.backlog:
                    self._defer(number.backlog.popleft(), grant.wait_s)
            return False
        message.attempts += 1
        future = executor.submit(_send, self._client(message.waba), message)
        self.inflight[future] = message
        self.busy_pairs.add((message.phone_number_id, message.dst))
        return True

    def _dispatch(self, executor: ThreadPoolExecutor) -> None:
        progressed = True
        while progressed and len(self.inflight) < self.threads:
            progressed = False
            now = time.monotonic()
            for number in self.numbers.values():
                if len(self.inflight) >= self.threads:
                    return
                if number.backlog and number.ready_at <= now:
                    progressed |= self._dispatch_one(number, executor, now)

    # ------------------------------------------------------------ results

    def _record(self, future: Future[SentMessage], message: Message) -> None:
        self.busy_pairs.discard((message.phone_number_id, message.dst))
        try:
            sent = future.result()
        except GraphError as error:
            self._record_error(message, error)
            return
        except Exception:  # a bug must not lose the message: retry it later
            logger.exception("sending message %s raised", message.uuid)
            outbox.message_release(
                message=message,
                owner=self.owner,
                at=timezone.now() + timedelta(seconds=outbox.retry_delay_s(message.attempts)),
                attempts=message.attempts,
            )
            self.result.retried += 1
            return
        outbox.message_sent(message=message, sent=sent, owner=self.owner)
        self.result.sent += 1

    def _record_error(self, message: Message, error: GraphError) -> None:
        outcome = outbox.message_failed_call(message=message, error=error, owner=self.owner)
        if outcome.retry_in_s is None:
            self.result.failed += 1
            return
        self.result.retried += 1
        if outcome.penalize == "number":
            self.limiter.penalize(
                key=number_key(message.phone_number_id), seconds=outcome.penalty_s
            )
        elif outcome.penalize == "pair":
            key = pair_key(message.phone_number_id, message.dst)
            self.limiter.penalize(key=key, seconds=outcome.penalty_s)

    def _collect(self, timeout: float) -> None:
        if not self.inflight:
            if timeout > 0:
                time.sleep(timeout)
            return
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            self._record(future, self.inflight.pop(future))

    def _hand_back(self) -> None:
        now = timezone.now()
        for number in self.numbers.values():
            while number.backlog:
                outbox.message_release(message=number.backlog.popleft(), owner=self.owner, at=now)

    # ------------------------------------------------------------ the loop

    def _pause(self) -> float:
        """How long to wait for a result or a number's next slot."""
        now = time.monotonic()
        waiting = [n.ready_at for n in self.numbers.values() if n.backlog]
        if not waiting:
            return _POLL_S
        if min(waiting) > now:  # every number is held back by the limiter
            return min(min(waiting) - now, 0.1)
        # a number may go but could not (threads all busy, or its recipients in flight): a
        # result frees that; _collect returns as soon as one comes in
        return 0.05 if self.inflight else 0.001

    def run(self, *, budget_s: float | None = None, grace_s: float = _GRACE_S) -> PumpResult:
        deadline = time.monotonic() + budget_jittered(budget_s)
        idle_since: float | None = None
        with ThreadPoolExecutor(self.threads, thread_name_prefix="send") as executor:
            try:
                while True:
                    if time.monotonic() >= deadline:
                        successor_queue()  # out of time, perhaps not of work: no gap
                        break
                    claimed = self._claim()
                    self._dispatch(executor)
                    busy = self.inflight or any(n.backlog for n in self.numbers.values())
                    if claimed > 0 or busy:
                        idle_since = None
                    elif not self.result.claimed:
                        break  # nothing was due at all (a beat tick): do not hold the worker
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since >= grace_s:
                        break
                    self._collect(self._pause() if busy else _POLL_S * 5)
                self._hand_back()
                while self.inflight:
                    self._collect(1.0)
            finally:
                self._session.close()
        return self.result


def budget_jittered(budget_s: float | None = None, rng: random.Random | None = None) -> float:
    """The run's budget: MESSAGE_SEND_BUDGET_S less up to a quarter, at random, so pumps that
    started together (a burst of nudges, beat's ticks) end apart and hand over one by one."""
    budget = budget_s or float(settings.MESSAGE_SEND_BUDGET_S)
    return budget * (1 - (rng or random).uniform(0, _BUDGET_JITTER))  # noqa: S311 - not security


def successor_queue() -> None:
    """Queue the next pump now, before this one hands back and drains its calls, instead of
    leaving the queue to the API's next nudge or beat's next tick. If nothing is due by then,
    the successor returns at once."""
    try:
        current_app.send_task(SEND_MESSAGES, retry=False)
    except Exception:  # the broker being down must not lose the hand-back; beat catches up
        logger.warning("could not queue the next send pump; beat will start one")


def messages_send(*, budget_s: float | None = None, grace_s: float = _GRACE_S) -> PumpResult:
    """Send due messages until none are due (and a short grace passed) or the budget is spent."""
    return SendPump().run(budget_s=budget_s, grace_s=grace_s)
