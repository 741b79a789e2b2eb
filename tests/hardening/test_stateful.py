"""A Hypothesis state machine over onboarding and delivery (TH-5, reliability.md 5.1).

The real services run against the real sandbox, in process: every Graph call (and the
sandbox's own handshake GET back to our webhook view) is routed through Django's test client.
Rules: submit a signup through the API or the hosted page (a code exchange), submit it again,
make Meta fail (transient or permanent), run a step, kill a worker right after a step's Graph
call (before it is recorded), let time pass (waits fall due, leases expire), retry a failed
onboarding, and send Meta webhook events (duplicated, for known and unknown WABAs), process
them, hand onboarding's events to delivery and replay deliveries.

Invariants, checked after every rule:
  (i)   at most one successful code exchange per code;
  (ii)  states move only along ONBOARDING_TRANSITIONS / STEP_TRANSITIONS (the audit rows and
        what we saw between rules), and active, succeeded and skipped are absorbing;
  (iii) a step never runs again after it succeeded: at most one successful register per number
        and one credit share per WABA, and a succeeded step's attempts never grow;
  (iv)  one event per Meta change (a change not yet expanded by a worker is held by its stored
        payload), one delivery per event, the delivery's webhook-id is the event's id and stays
        the same (with the same body) across retries and replays;
  (v)   no Tech Provider gets a delivery for another's WABA;
  (vi)  nothing is orphaned: every open onboarding's current step is pending, waiting with a
        next_attempt_at, or running with a lease.

Examples: STATEFUL_EXAMPLES (default 8) runs of up to STATEFUL_STEPS (default 25) rules.
"""

import contextlib
import json
import os
import re
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from celery import Celery
from celery.app.task import Task
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from messaging.meta_events import derive_events
from messaging.models import Delivery, WebhookEvent, WebhookPayload
from messaging.services.deliveries import delivery_replay, tech_provider_events_dispatch
from messaging.services.ingest import webhook_payload_ingest
from messaging.services.processing import webhook_events_process, webhook_events_route_parked
from onboarding.errors import OnboardingError
from onboarding.graph import GraphClient
from onboarding.models import (
    ONBOARDING_TRANSITIONS,
    STEP_TRANSITIONS,
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    TechProvider,
)
from onboarding.services import faults, pipeline
from onboarding.services.signup import embedded_signup_submit
from onboarding.signup_input import SignupInput
from sandbox.models import SandboxCall
from sandbox.testing import clear_faults, inject_fault, simulate_signup
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "8"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "25"))
DONE_STEP = {"succeeded", "skipped"}
STEP_NAMES = [name for name, _ in OnboardingStep.Name.choices]
ENDPOINT_OF = {
    "subscribe_webhooks": "subscribed_apps.post",
    "share_credit_line": "credit_line.share",
    "register_phone_number": "phone_number.register",
    "fetch_phone_number": "phone_number.get",
}


STATS: Counter[str] = Counter()  # what the runs did, printed at the end


class Killed(BaseException):
    """The worker died right after the step's Graph call (what SIGKILL does to it)."""


class _KillingOs:
    """Stands in for `os` in onboarding.services.faults: kill() raises instead of killing."""

    @staticmethod
    def getpid() -> int:
        return 0

    @staticmethod
    def kill(pid: int, sig: int) -> None:
        raise Killed


def _forward(request: Any) -> tuple[int, dict[str, str], bytes]:
    """Any outgoing HTTP call, served by our own Django app (platform and sandbox)."""
    url = urlsplit(request.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = {"HTTP_AUTHORIZATION": request.headers.get("Authorization", "")}
    body = request.body or b""
    answer = Client().generic(
        request.method,
        path,
        data=body.encode() if isinstance(body, str) else body,
        content_type=request.headers.get("Content-Type", "application/octet-stream"),
        **headers,
    )
    kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
    return answer.status_code, kept, answer.content


class Pipeline(RuleBasedStateMachine):
    """One Tech Provider pair, their onboardings and Meta's events, driven by Hypothesis."""

    onboardings = Bundle("onboardings")
    deliveries = Bundle("deliveries")

    def __init__(self) -> None:
        super().__init__()
        self.tp = make_account("Stateful ISV").tech_provider
        self.other = make_account("Other ISV").tech_provider
        TechProvider.objects.filter(pk__in=[self.tp.pk, self.other.pk]).update(
            webhook_url="https://tp.example/hook"  # replays need one; nothing is sent here
        )
        self.seen_steps: dict[int, str] = {}
        self.seen_onboardings: dict[int, str] = {}
        self.succeeded_attempts: dict[int, int] = {}
        self.codes: list[str] = []
        self.changes: set[str] = set()
        self.delivery_bodies: dict[str, tuple[str, str]] = {}
        self.n = 0
        last = SandboxCall.objects.order_by("-id").first()
        self.calls_after = last.pk if last else 0  # earlier examples' calls are not ours

    # ------------------------------------------------------------------ onboarding rules

    @rule(target=onboardings, hosted=st.booleans(), other=st.booleans())
    def submit(self, hosted: bool, other: bool) -> int:
        signup = simulate_signup()
        token = ""
        if hosted:
            self.codes.append(signup["code"])
            token = (
                GraphClient("")
                .exchange_code_for_token(
                    code=signup["code"],
                    app_id=_settings().SANDBOX_APP_ID,
                    app_secret=_settings().SANDBOX_APP_SECRET,
                )
                .access_token
            )
        STATS["signups (hosted)" if hosted else "signups (API)"] += 1
        onboarding = embedded_signup_submit(
            tech_provider=self.other if other else self.tp,
            signup=SignupInput(
                signup["waba_id"], signup["business_id"], signup["phone_number_id"], ""
            ),
            business_token=token,
        )
        return onboarding.pk

    @rule(onboarding=onboardings)
    def submit_again(self, onboarding: int) -> None:
        row = Onboarding.objects.select_related("waba").get(pk=onboarding)
        number = row.waba.phone_numbers.first()
        signup = SignupInput(
            row.waba.waba_id,
            row.waba.business_id,
            number.phone_number_id if number else None,
            row.waba.reference,
        )
        # "already onboarded" is fine, as long as nothing moved (the invariants say)
        with contextlib.suppress(OnboardingError):
            embedded_signup_submit(tech_provider=row.waba.tech_provider, signup=signup)

    @rule(
        endpoint=st.sampled_from(sorted(ENDPOINT_OF.values())),
        code=st.sampled_from([2, 2, 4, 100]),
        times=st.integers(1, 2),
    )
    def meta_fails(self, endpoint: str, code: int, times: int) -> None:
        inject_fault(endpoint, error_code=code, times=times)
        STATS["graph faults"] += times

    @rule()
    def meta_recovers(self) -> None:
        clear_faults()

    @rule(onboarding=onboardings)
    def run_step(self, onboarding: int) -> None:
        step = self._current(onboarding)
        if step is not None:
            pipeline.onboarding_step_run(step_id=step.pk, name=step.name)

    @rule(onboarding=onboardings)
    def kill_after_graph_call(self, onboarding: int) -> None:
        step = self._current(onboarding)
        if step is None or step.name not in ENDPOINT_OF:
            return
        _settings().PIPELINE_CRASH_AFTER = step.name
        try:
            pipeline.onboarding_step_run(step_id=step.pk, name=step.name)
        except Killed:
            STATS["workers killed after a Graph call"] += 1
        finally:
            _settings().PIPELINE_CRASH_AFTER = ""

    @rule(onboarding=onboardings)
    def workers_run_it_to_the_end(self, onboarding: int) -> None:
        """What workers and the sweeper do given time: every due step, until it is over."""
        for _ in range(3 * len(STEP_NAMES)):
            if Onboarding.objects.get(pk=onboarding).status in ("active", "failed"):
                return
            self.time_passes()
            self.run_step(onboarding)

    @rule()
    def time_passes(self) -> None:
        """Waits fall due and every lease expires (as if the lease time went by)."""
        past = timezone.now() - timedelta(seconds=1)
        OnboardingStep.objects.filter(status="waiting").update(next_attempt_at=past)
        OnboardingStep.objects.filter(status="running").update(lease_expires_at=past)

    @rule(onboarding=onboardings)
    def retry(self, onboarding: int) -> None:
        row = Onboarding.objects.get(pk=onboarding)
        if row.status == Onboarding.Status.FAILED:
            clear_faults()
            pipeline.onboarding_retry(onboarding=row, actor="hypothesis")
            STATS["retries"] += 1

    # ------------------------------------------------------------------ delivery rules

    @rule(onboarding=onboardings, duplicate=st.booleans(), known=st.booleans())
    def meta_sends_event(self, onboarding: int, duplicate: bool, known: bool) -> None:
        row = Onboarding.objects.select_related("waba").get(pk=onboarding)
        number = row.waba.phone_numbers.first()
        self.n += 1
        waba_id = row.waba.waba_id if known else f"9{self.n:014d}"
        wamid = f"wamid.HYP{id(self)}.{self.n}"
        self.changes.add(f"message:{wamid}")
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550000000",
                "phone_number_id": number.phone_number_id if (number and known) else "1",
            },
            "messages": [{"from": "15551234567", "id": wamid, "timestamp": "1790000000",
                          "type": "text", "text": {"body": "hi"}}],
        }  # fmt: skip
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
            }
        ).encode()
        for _ in range(2 if duplicate else 1):
            webhook_payload_ingest(body=body, source="app")
            STATS["meta posts"] += 1

    @rule(target=deliveries)
    def process(self) -> str:
        webhook_events_process()
        assert not WebhookPayload.objects.filter(expanded_at__isnull=True).exists()
        webhook_events_route_parked()
        webhook_events_process()
        tech_provider_events_dispatch()
        latest = Delivery.objects.order_by("-id").first()
        return latest.webhook_id if latest else ""

    @rule(webhook_id=consumes(deliveries))
    def replay(self, webhook_id: str) -> None:
        delivery = Delivery.objects.filter(webhook_id=webhook_id).first()
        if delivery is not None:
            delivery_replay(delivery=delivery)
            STATS["replays"] += 1

    # ------------------------------------------------------------------ invariants

    @invariant()
    def i_one_exchange_per_code(self) -> None:
        calls = self._calls("oauth.access_token")
        assert calls.count() <= len(self.codes)
        hints = Counter(str(c.params.get("code", ""))[-4:] for c in calls)
        assert all(n == 1 for n in hints.values()), hints

    @invariant()
    def ii_states_move_only_along_the_tables(self) -> None:
        for event in OnboardingEvent.objects.exclude(step="offboard"):
            table = STEP_TRANSITIONS if event.step else ONBOARDING_TRANSITIONS
            if event.from_status:
                assert event.to_status in table[event.from_status], (event.step, event)
        for pk, status in OnboardingStep.objects.values_list("pk", "status"):
            before = self.seen_steps.get(pk)  # several moves may happen within one rule
            assert before not in DONE_STEP or status == before, f"step {pk}: {before} -> {status}"
            self.seen_steps[pk] = status
        for pk, status in Onboarding.objects.values_list("pk", "status"):
            before = self.seen_onboardings.get(pk)
            assert before != "active" or status == "active", f"onboarding {pk} left active"
            self.seen_onboardings[pk] = status

    @invariant()
    def iii_no_step_runs_again_after_success(self) -> None:
        registered = Counter(
            SandboxCall.objects.filter(
                endpoint="phone_number.register", status_code__lt=400
            ).values_list("object_id", flat=True)
        )
        assert all(n == 1 for n in registered.values()), registered
        shared = Counter(str(c.params.get("waba_id")) for c in self._calls("credit_line.share"))
        assert all(n == 1 for n in shared.values()), shared
        for pk, attempts in OnboardingStep.objects.filter(status="succeeded").values_list(
            "pk", "attempts"
        ):
            assert self.succeeded_attempts.setdefault(pk, attempts) == attempts

    @invariant()
    def iv_one_event_and_delivery_per_change_with_a_stable_id(self) -> None:
        keys = Counter(
            WebhookEvent.objects.filter(dedupe_key__startswith="message:wamid.HYP").values_list(
                "dedupe_key", flat=True
            )
        )
        mine = {k for k in keys if k in self.changes}
        assert all(keys[k] == 1 for k in mine)
        waiting = set()  # bodies stored before the 200 whose events a worker derives later
        for body in WebhookPayload.objects.filter(expanded_at__isnull=True).values_list(
            "body", flat=True
        ):
            waiting |= {e.dedupe_key for e in derive_events(json.loads(bytes(body))).events}
        assert mine | (waiting & self.changes) == self.changes  # every change sent is stored
        per_event = Counter(
            Delivery.objects.exclude(event=None).values_list("event_id", "tech_provider_id")
        )
        assert all(n == 1 for n in per_event.values())
        for delivery in Delivery.objects.select_related("event"):
            if delivery.event is not None:
                assert delivery.webhook_id == delivery.event.event_id
            first = self.delivery_bodies.setdefault(
                delivery.webhook_id, (str(delivery.pk), delivery.body)
            )
            assert first == (str(delivery.pk), delivery.body), "re-minted or re-rendered"

    @invariant()
    def v_no_cross_tenant_delivery(self) -> None:
        for delivery in Delivery.objects.exclude(event=None).select_related("event__waba"):
            event = delivery.event
            assert event is not None
            assert event.waba is not None
            assert delivery.tech_provider_id == event.waba.tech_provider_id

    @invariant()
    def vi_nothing_is_orphaned(self) -> None:
        for onboarding in Onboarding.objects.exclude(status__in=["active", "failed"]):
            step = self._current(onboarding.pk, make_due=False)
            assert step is not None, onboarding
            assert (
                step.status == "pending"
                or (step.status == "waiting" and step.next_attempt_at is not None)
                or (step.status == "running" and step.lease_expires_at is not None)
            ), (step.name, step.status)

    def teardown(self) -> None:
        STATS["runs"] += 1
        for status, n in Counter(
            Onboarding.objects.filter(waba__tech_provider__in=[self.tp, self.other]).values_list(
                "status", flat=True
            )
        ).items():
            STATS[f"onboardings {status}"] += n
        STATS["deliveries"] += Delivery.objects.filter(
            tech_provider__in=[self.tp, self.other]
        ).count()

    # ------------------------------------------------------------------ helpers

    def _calls(self, endpoint: str) -> Any:
        """This example's successful calls to one sandbox endpoint."""
        return SandboxCall.objects.filter(
            pk__gt=self.calls_after, endpoint=endpoint, status_code__lt=400
        )

    def _current(self, onboarding: int, *, make_due: bool = True) -> OnboardingStep | None:
        step = (
            OnboardingStep.objects.filter(onboarding_id=onboarding)
            .exclude(status__in=DONE_STEP)
            .order_by("position")
            .first()
        )
        if step is None or not make_due:
            return step
        return None if step.status == "failed" else step


def _settings() -> Any:
    from django.conf import settings as django_settings

    return django_settings


def test_onboarding_and_delivery_keep_their_invariants(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GRAPH_API_BASE_URL = "https://graph.test/sandbox/graph"
    settings.PUBLIC_BASE_URL = "https://platform.test"
    settings.SANDBOX_WEBHOOK_DISPATCH = "manual"
    settings.PIPELINE_CRASH_AFTER = ""
    settings.PIPELINE_MAX_ATTEMPTS = 4
    monkeypatch.setattr(faults, "os", _KillingOs)
    monkeypatch.setattr(Task, "apply_async", lambda *args, **kwargs: None)  # no broker
    monkeypatch.setattr(Celery, "send_task", lambda *args, **kwargs: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(r"https?://.*"), callback=_forward)
        mock.add_callback(responses.POST, re.compile(r"https?://.*"), callback=_forward)
        mock.add_callback(responses.DELETE, re.compile(r"https?://.*"), callback=_forward)
        run_state_machine_as_test(Pipeline, settings=settings_for_run())
    print("\nSTATEFUL", dict(sorted(STATS.items())))  # noqa: T201 - figures, read with -s
    assert STATS["onboardings active"] > 0


def settings_for_run() -> settings:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
