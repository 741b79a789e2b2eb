"""Reconciliation end to end: WABAs onboarded to active through the sandbox by a real worker,
then drift injected at the simulated Meta (our app unsubscribed, a number disconnected, the
credit allocation revoked, the business token expired on the sandbox clock). The beat job finds
each one on its own, flags the WABA (what admin shows) and records one `waba.drift_detected`
event for the Tech Provider; repairing the drift records `waba.drift_resolved`.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from onboarding.graph import GraphClient
from onboarding.models import Onboarding, TechProviderEvent, WhatsAppBusinessAccount
from onboarding.services.reconciliation import DRIFT_DETECTED, DRIFT_RESOLVED, waba_reconcile
from onboarding.services.signup import embedded_signup_submit
from onboarding.services.tech_providers import tech_provider_create
from onboarding.signup_input import SignupInput
from tests.e2e.stack import Stack, wait_for
from tests.hardening.conftest import PORTS

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

STACK_PORTS = PORTS[10:20]
STACK_ENV = {"RECONCILE_INTERVAL_S": "1", "RECONCILE_TOKEN_WARN_S": str(7 * 86400)}


def _submit(stack: Stack, tech_provider: Any, signup: dict[str, Any], token: str = "") -> None:
    embedded_signup_submit(
        tech_provider=tech_provider,
        signup=SignupInput(signup["waba_id"], signup["business_id"], signup["phone_number_id"], ""),
        business_token=token,
        actor="test",
    )


@pytest.fixture
def onboarded(stack: Stack, transactional_db: None, settings: Any) -> Iterator[dict[str, Any]]:
    """Two active WABAs of one Tech Provider: one from the API, one from a hosted signup (with
    the customer's business token); our process talks to the stack's sandbox too."""
    settings.GRAPH_API_BASE_URL = f"{stack.url}/sandbox/graph"
    settings.PUBLIC_BASE_URL = stack.url
    stack.control("POST", "reset/")
    stack.control("DELETE", "clock/")
    tech_provider = tech_provider_create(name="Drift ISV").tech_provider
    stack.start_worker()
    api_signup, hosted_signup = stack.signup(), stack.signup()
    _submit(stack, tech_provider, api_signup)
    token = GraphClient("").exchange_code_for_token(
        code=hosted_signup["code"],
        app_id=settings.SANDBOX_APP_ID,
        app_secret=settings.SANDBOX_APP_SECRET,
    )
    _submit(stack, tech_provider, hosted_signup, token.access_token)
    ids = [api_signup["waba_id"], hosted_signup["waba_id"]]
    wait_for(
        lambda: Onboarding.objects.filter(waba__waba_id__in=ids, status="active").count() == 2,
        timeout=60,
        what="both onboardings to be active",
    )
    yield {"api": api_signup, "hosted": hosted_signup, "tech_provider": tech_provider}
    stack.stop_workers()
    stack.control("DELETE", "clock/")


def waba(signup: dict[str, Any]) -> WhatsAppBusinessAccount:
    return WhatsAppBusinessAccount.objects.get(waba_id=signup["waba_id"])


def wait_drift(signup: dict[str, Any], check: str, *, present: bool = True) -> float:
    started = time.monotonic()

    def seen() -> bool:
        drift = waba(signup).drift
        return any(key.startswith(check) for key in drift) == present

    wait_for(seen, timeout=30, what=f"{check} drift {'found' if present else 'cleared'}")
    return time.monotonic() - started


def events(signup: dict[str, Any], event_type: str) -> list[dict[str, Any]]:
    rows = TechProviderEvent.objects.filter(waba__waba_id=signup["waba_id"], event_type=event_type)
    return [row.payload for row in rows.order_by("id")]


def system_graph(stack: Stack) -> GraphClient:
    return GraphClient(settings.META_SYSTEM_USER_TOKEN, base_url=f"{stack.url}/sandbox/graph")


def test_drift_is_found_flagged_told_once_and_cleared(stack: Stack, onboarded: dict[str, Any]):
    api, hosted = onboarded["api"], onboarded["hosted"]
    wait_for(lambda: waba(api).reconciled_at is not None, timeout=30, what="a first round")
    wait_for(lambda: waba(hosted).reconciled_at is not None, timeout=30, what="a first round")
    assert waba(api).drift == {}  # onboarding left it all right
    assert waba(hosted).drift == {}
    timings = {}

    # 1. our app unsubscribed (e.g. the customer removed it in Business Manager)
    system_graph(stack).unsubscribe_app(api["waba_id"])
    timings["subscription"] = wait_drift(api, "subscription")
    assert "no longer subscribed" in waba(api).drift["subscription"]

    # 2. the number disconnected
    stack.control("POST", f"phone-numbers/{api['phone_number_id']}/", status="DISCONNECTED")
    timings["phone_number"] = wait_drift(api, "phone_number")
    assert "DISCONNECTED" in waba(api).drift[f"phone_number:{api['phone_number_id']}"]

    # 3. our credit allocation revoked
    system_graph(stack).revoke_credit_allocation(waba(api).allocation_config_id)
    timings["credit_line"] = wait_drift(api, "credit_line")
    assert "revoked" in waba(api).drift["credit_line"]

    flagged = waba(api)
    assert flagged.drift_since is not None
    assert set(flagged.drift) == {
        "subscription",
        f"phone_number:{api['phone_number_id']}",
        "credit_line",
    }
    time.sleep(3)  # more rounds: the same drift is not told again
    detected = events(api, DRIFT_DETECTED)
    assert [set(e["problems"]) for e in detected] == [
        {"subscription"},
        {f"phone_number:{api['phone_number_id']}"},
        {"credit_line"},
    ]
    assert all(e["waba_id"] == api["waba_id"] for e in detected)

    # repaired: the app subscribed again with the WABA's URL, the number reconnected
    system_graph(stack).subscribe_app(api["waba_id"])
    system_graph(stack).subscribe_app(
        api["waba_id"],
        override_callback_uri=f"{stack.url}/webhooks/meta/waba/{api['waba_id']}/",
        verify_token=flagged.webhook_verify_token,
    )
    stack.control("POST", f"phone-numbers/{api['phone_number_id']}/", status="CONNECTED")
    wait_drift(api, "subscription", present=False)
    wait_drift(api, "phone_number", present=False)
    resolved = [r for e in events(api, DRIFT_RESOLVED) for r in e["resolved"]]
    assert sorted(resolved) == sorted(["subscription", f"phone_number:{api['phone_number_id']}"])
    assert set(waba(api).drift) == {"credit_line"}  # still revoked: still flagged

    # 4. the business token expires (the sandbox clock moves past its 60 days)
    assert waba(hosted).drift == {}
    stack.control("POST", "clock/", advance_s=61 * 86400)
    timings["business_token"] = wait_drift(hosted, "business_token")
    assert "no longer valid" in waba(hosted).drift["business_token"]
    assert set(events(hosted, DRIFT_DETECTED)[0]["problems"]) == {"business_token"}
    print(f"\nRECONCILE seconds to flag: {timings}")  # noqa: T201


def test_a_token_near_its_end_is_drift_before_it_expires(
    stack: Stack, onboarded: dict[str, Any], settings: Any
) -> None:
    hosted = onboarded["hosted"]
    settings.RECONCILE_TOKEN_WARN_S = 90 * 86400  # the sandbox's tokens live 60 days
    found = waba_reconcile(waba_pk=waba(hosted).pk)
    assert "expires at" in found.drift["business_token"]
    assert set(found.drift) == {"business_token"}  # the rest is fine


def test_a_check_meta_cannot_answer_keeps_what_was_known(
    stack: Stack, onboarded: dict[str, Any]
) -> None:
    api = onboarded["api"]
    stack.stop_workers()  # only this process reconciles now
    system_graph(stack).unsubscribe_app(api["waba_id"])
    assert "subscription" in waba_reconcile(waba_pk=waba(api).pk).drift
    stack.control("POST", "faults/", endpoint="subscribed_apps.get", error_code=2, times=1)
    again = waba_reconcile(waba_pk=waba(api).pk)
    assert "subscription" in again.drift  # code 2: not answered, neither raised nor cleared
    assert len(events(api, DRIFT_DETECTED)) == 1
