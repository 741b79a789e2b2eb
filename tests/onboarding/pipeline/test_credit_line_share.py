"""Step 2, share our credit line with the WABA, store the allocation, and verify it."""

from typing import Any

import requests

from onboarding.models import Onboarding, WhatsAppBusinessAccount
from onboarding.services.credit_line import waba_credit_line_share

from .conftest import (
    ALLOCATION,
    BUSINESS_ID,
    BUSINESS_TOKEN,
    CREDIT_LINE,
    FUNDING,
    SYSTEM_TOKEN,
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    complete_steps_before,
    graph_url,
    make_due,
    run_step,
    step_of,
)

SHARE = f"{CREDIT_LINE}/whatsapp_credit_sharing_and_attach"
LOOKUP = f"{CREDIT_LINE}/owning_credit_allocation_configs"


def _run(onboarding: Onboarding) -> Any:
    complete_steps_before(onboarding, Step.SHARE_CREDIT_LINE)
    return run_step(onboarding, Step.SHARE_CREDIT_LINE)


def test_first_run_shares_stores_and_verifies(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.credit()
    step = _run(onboarding)
    assert step.status == StepStatus.SUCCEEDED
    assert step.result == {
        "allocation_config_id": ALLOCATION,
        "receiving_credential_id": FUNDING,
        "currency": "USD",
        "verified": True,
    }
    assert WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID).allocation_config_id == ALLOCATION
    (share,) = meta.calls("POST", SHARE)
    assert share.request.params == {"waba_currency": "USD", "waba_id": WABA_ID}


def test_credit_calls_use_our_system_token_and_funding_reads_the_customers(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.credit()
    _run(onboarding)
    auth = {c.request.url.split("?")[0]: c.request.headers["Authorization"] for c in meta.calls()}
    assert auth[graph_url(SHARE)] == f"Bearer {SYSTEM_TOKEN}"
    assert auth[graph_url(ALLOCATION)] == f"Bearer {SYSTEM_TOKEN}"
    assert auth[graph_url(WABA_ID)] == f"Bearer {BUSINESS_TOKEN}"


def test_the_currency_is_the_tech_providers_default(
    meta: FakeMeta, account: Any, onboarding: Onboarding
) -> None:
    WhatsAppBusinessAccount.objects.filter(waba_id=WABA_ID).update(currency="INR")
    meta.credit()
    _run(onboarding)
    assert meta.calls("POST", SHARE)[0].request.params["waba_currency"] == "INR"


def test_a_rerun_after_success_makes_no_graph_call(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.credit()
    _run(onboarding)
    before = meta.count()
    run_step(onboarding, Step.SHARE_CREDIT_LINE)
    waba_credit_line_share(step=step_of(onboarding, Step.SHARE_CREDIT_LINE), in_doubt=True)
    assert meta.count() == before


def test_a_stored_allocation_is_verified_not_shared_again(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    WhatsAppBusinessAccount.objects.filter(waba_id=WABA_ID).update(allocation_config_id=ALLOCATION)
    meta.credit()
    step = _run(onboarding)
    assert step.status == StepStatus.SUCCEEDED
    assert meta.count("POST", SHARE) == 0


def test_after_a_lost_answer_it_finds_the_allocation_instead_of_sharing_again(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(graph_url(SHARE), body=requests.ReadTimeout("no answer"))
    step = _run(onboarding)
    assert (step.status, step.outcome_unknown) == (StepStatus.WAITING, True)
    meta.mock.get(
        graph_url(LOOKUP),
        json={"data": [{"id": ALLOCATION, "receiving_business": {"id": BUSINESS_ID}}]},
    )
    meta.credit()
    make_due(step)
    step = run_step(onboarding, Step.SHARE_CREDIT_LINE)
    assert step.status == StepStatus.SUCCEEDED
    assert meta.count("POST", SHARE) == 1  # only the lost one
    (lookup,) = meta.calls("GET", LOOKUP)
    assert lookup.request.params["receiving_business_id"] == BUSINESS_ID
    assert WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID).allocation_config_id == ALLOCATION


def test_after_a_lost_answer_with_nothing_found_it_shares(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.mock.post(graph_url(SHARE), body=requests.ConnectionError("reset"))
    step = _run(onboarding)
    meta.mock.get(graph_url(LOOKUP), json={"data": []})
    meta.mock.replace(
        "POST", graph_url(SHARE), json={"allocation_config_id": ALLOCATION, "waba_id": WABA_ID}
    )
    meta.credit()
    make_due(step)
    assert run_step(onboarding, Step.SHARE_CREDIT_LINE).status == StepStatus.SUCCEEDED
    assert meta.count("GET", LOOKUP) == 1


def test_an_allocation_funding_another_waba_is_not_adopted(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    step = step_of(onboarding, Step.SHARE_CREDIT_LINE)
    meta.mock.get(
        graph_url(LOOKUP),
        json={"data": [{"id": "999", "receiving_credential": {"id": "OTHER-FUNDING"}}]},
    )
    meta.credit()
    waba_credit_line_share(step=step, in_doubt=True)
    assert meta.count("POST", SHARE) == 1
    assert WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID).allocation_config_id == ALLOCATION


def test_an_unverified_share_is_retried_until_meta_shows_it(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.credit(credential="")
    step = _run(onboarding)
    assert step.status == StepStatus.WAITING
    assert "not the WABA's funding source yet" in onboarding.events.last().reason  # type: ignore[union-attr]
    meta.mock.replace(
        "GET",
        graph_url(ALLOCATION),
        json={"id": ALLOCATION, "receiving_credential": {"id": FUNDING}},
    )
    make_due(step)
    assert run_step(onboarding, Step.SHARE_CREDIT_LINE).status == StepStatus.SUCCEEDED
    assert meta.count("POST", SHARE) == 1


def test_an_unsupported_currency_fails_without_calling(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    WhatsAppBusinessAccount.objects.filter(waba_id=WABA_ID).update(currency="JPY")
    step = _run(onboarding)
    assert step.status == StepStatus.FAILED
    assert "AUD, EUR, GBP, IDR, INR, USD" in step.note
    assert meta.count() == 0


def test_without_a_credit_line_the_step_is_skipped_with_the_reason(
    meta: FakeMeta, onboarding: Onboarding, settings: Any
) -> None:
    settings.META_CREDIT_LINE_ID = ""
    step = _run(onboarding)
    assert step.status == StepStatus.SKIPPED
    assert "Tech Provider" in step.note
    assert meta.count() == 0


def test_a_permission_error_fails_with_what_to_check(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    meta.fail("POST", SHARE, 200, status=403)
    step = _run(onboarding)
    assert step.status == StepStatus.FAILED
    assert "our system user is assigned to the WABA" in step.note
    assert step.last_error_code == 200


def test_a_rate_limit_backs_off(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.fail("POST", SHARE, 80007)
    step = _run(onboarding)
    assert step.status == StepStatus.WAITING
    assert step.last_error_code == 80007
    assert not step.outcome_unknown  # Meta answered: nothing to look up next time
