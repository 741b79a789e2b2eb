"""Offboarding: revoke our credit allocation, unsubscribe our app, mark the WABA offboarded."""

from django.contrib.auth.models import User
from django.test import Client

from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    TechProviderEvent,
    WhatsAppBusinessAccount,
)
from onboarding.services.offboarding import waba_offboard

from .conftest import (
    ALLOCATION,
    SYSTEM_TOKEN,
    WABA_ID,
    FakeMeta,
    Step,
    StepStatus,
    drive,
    envelope,
    graph_url,
    run_step,
    step_of,
)

SUBSCRIBED_APPS = f"{WABA_ID}/subscribed_apps"


def _active(meta: FakeMeta, onboarding: Onboarding) -> WhatsAppBusinessAccount:
    meta.everything()
    drive(onboarding)
    return WhatsAppBusinessAccount.objects.get(waba_id=WABA_ID)


def _meta_accepts_offboarding(meta: FakeMeta) -> None:
    meta.mock.delete(graph_url(ALLOCATION), json={"success": True})
    meta.mock.delete(graph_url(SUBSCRIBED_APPS), json={"success": True})


def test_it_revokes_unsubscribes_and_marks_offboarded(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    waba = _active(meta, onboarding)
    _meta_accepts_offboarding(meta)
    waba = waba_offboard(waba=waba, reason="PARTNER_REMOVED", actor="webhook")
    assert waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED
    assert (waba.offboard_reason, waba.allocation_config_id) == ("PARTNER_REMOVED", "")
    assert waba.offboarded_at is not None
    assert waba.webhooks_subscribed_at is None
    (revoke,) = meta.calls("DELETE", ALLOCATION)
    assert revoke.request.headers["Authorization"] == f"Bearer {SYSTEM_TOKEN}"
    assert meta.count("DELETE", SUBSCRIBED_APPS) == 1
    row = OnboardingEvent.objects.get(step="offboard")
    assert (row.from_status, row.to_status, row.actor) == ("active", "offboarded", "webhook")
    assert row.detail == {
        "revoked_credit_allocation": True,
        "unsubscribed_app": True,
        "problems": {},
    }
    event = TechProviderEvent.objects.get(event_type="waba.offboarded")
    assert event.payload["reason"] == "PARTNER_REMOVED"
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.ACTIVE  # its history stays as it was


def test_meta_refusing_still_offboards_and_a_rerun_finishes_the_revoke(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    waba = _active(meta, onboarding)
    meta.mock.delete(graph_url(ALLOCATION), status=503, json=envelope(2))
    meta.mock.delete(graph_url(SUBSCRIBED_APPS), status=403, json=envelope(200))
    waba = waba_offboard(waba=waba, reason="staff", actor="staff:ann")
    assert waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED
    assert waba.allocation_config_id == ALLOCATION  # still to revoke
    assert waba.webhooks_subscribed_at is None  # we lost access: nothing left to undo
    problems = OnboardingEvent.objects.get(step="offboard").detail["problems"]
    assert problems["revoke_credit_allocation"]["code"] == 2
    assert problems["unsubscribe_app"]["code"] == 200
    meta.mock.replace("DELETE", graph_url(ALLOCATION), json={"success": True})
    waba = waba_offboard(waba=waba, reason="staff", actor="staff:ann")
    assert waba.allocation_config_id == ""
    assert meta.count("DELETE", SUBSCRIBED_APPS) == 1  # not asked again
    assert TechProviderEvent.objects.filter(event_type="waba.offboarded").count() == 1


def test_an_allocation_meta_already_deleted_counts_as_revoked(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    waba = _active(meta, onboarding)
    meta.mock.delete(graph_url(ALLOCATION), status=400, json=envelope(100))
    meta.mock.replace(
        "GET", graph_url(ALLOCATION), json={"id": ALLOCATION, "request_status": "DELETED"}
    )
    meta.mock.delete(graph_url(SUBSCRIBED_APPS), json={"success": True})
    waba = waba_offboard(waba=waba, reason="staff", actor="staff:ann")
    assert waba.allocation_config_id == ""
    assert OnboardingEvent.objects.get(step="offboard").detail["problems"] == {}


def test_without_an_allocation_nothing_is_revoked(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.mock.delete(graph_url(SUBSCRIBED_APPS), json={"success": True})
    waba_offboard(waba=onboarding.waba, reason="staff", actor="staff:ann")
    assert meta.count("DELETE") == 1
    assert meta.count("DELETE", SUBSCRIBED_APPS) == 1


def test_offboarding_stops_an_unfinished_onboarding(meta: FakeMeta, onboarding: Onboarding) -> None:
    meta.subscribe()
    run_step(onboarding, Step.SUBSCRIBE_WEBHOOKS)
    meta.mock.delete(graph_url(SUBSCRIBED_APPS), json={"success": True})
    waba_offboard(waba=onboarding.waba, reason="staff", actor="staff:ann")
    onboarding.refresh_from_db()
    assert onboarding.status == Onboarding.Status.FAILED
    assert "offboarded" in onboarding.failure_reason
    before = meta.count()
    run_step(onboarding, Step.SHARE_CREDIT_LINE)
    assert meta.count() == before
    assert step_of(onboarding, Step.SHARE_CREDIT_LINE).status == StepStatus.PENDING


def test_the_admin_action_asks_for_a_reason_then_offboards(
    meta: FakeMeta, onboarding: Onboarding
) -> None:
    waba = _active(meta, onboarding)
    _meta_accepts_offboarding(meta)
    client = Client()
    client.force_login(User.objects.create_superuser("ann", "ann@example.com", "pw"))
    url = "/admin/onboarding/whatsappbusinessaccount/"
    confirm = client.post(url, {"action": "offboard", "_selected_action": [waba.pk]})
    assert confirm.status_code == 200
    assert b"Reason" in confirm.content
    waba.refresh_from_db()
    assert waba.status == WhatsAppBusinessAccount.Status.ACTIVE  # nothing yet
    done = client.post(
        url,
        {
            "action": "offboard",
            "_selected_action": [waba.pk],
            "confirm": "yes",
            "reason": "Customer left",
        },
        follow=True,
    )
    assert done.status_code == 200
    waba.refresh_from_db()
    assert (waba.status, waba.offboard_reason) == ("offboarded", "Customer left")
    assert OnboardingEvent.objects.get(step="offboard").actor == "staff:ann"
