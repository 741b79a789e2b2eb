"""How reconciliation records drift (no Meta needed): the flag admin shows and filters on, one
event per new or changed problem, one per problem that ended, and unanswered checks kept."""

import pytest
from django.contrib.auth import get_user_model

from onboarding.models import TechProviderEvent, WhatsAppBusinessAccount
from onboarding.services.reconciliation import DRIFT_DETECTED, DRIFT_RESOLVED, waba_drift_record
from tests.conftest import Account

pytestmark = pytest.mark.django_db


@pytest.fixture
def waba(account: Account) -> WhatsAppBusinessAccount:
    return WhatsAppBusinessAccount.objects.create(
        tech_provider=account.tech_provider,
        waba_id="5550001",
        business_id="5550002",
        status=WhatsAppBusinessAccount.Status.ACTIVE,
    )


def told(event_type: str) -> list[dict]:
    rows = TechProviderEvent.objects.filter(event_type=event_type).order_by("id")
    return [row.payload for row in rows]


def test_new_changed_and_ended_problems_are_told_once(waba: WhatsAppBusinessAccount) -> None:
    checked = {"subscription", "phone_number", "credit_line"}
    waba_drift_record(waba_pk=waba.pk, problems={"subscription": "gone"}, answered=checked)
    waba_drift_record(waba_pk=waba.pk, problems={"subscription": "gone"}, answered=checked)
    changed = waba_drift_record(
        waba_pk=waba.pk, problems={"subscription": "elsewhere"}, answered=checked
    )
    assert changed.drift == {"subscription": "elsewhere"}
    since = changed.drift_since
    assert since is not None
    # credit_line was not answered this round: a problem it had stays, untold again
    waba_drift_record(
        waba_pk=waba.pk,
        problems={"subscription": "elsewhere", "credit_line": "revoked"},
        answered=checked,
    )
    kept = waba_drift_record(waba_pk=waba.pk, problems={}, answered={"subscription"})
    assert kept.drift == {"credit_line": "revoked"}
    assert kept.drift_since == since
    clear = waba_drift_record(waba_pk=waba.pk, problems={}, answered=checked)
    assert clear.drift == {}
    assert clear.drift_since is None

    detected = [sorted(e["problems"].items()) for e in told(DRIFT_DETECTED)]
    assert detected == [
        [("subscription", "gone")],
        [("subscription", "elsewhere")],
        [("credit_line", "revoked")],
    ]
    assert [e["resolved"] for e in told(DRIFT_RESOLVED)] == [["subscription"], ["credit_line"]]
    assert {e["waba_id"] for e in told(DRIFT_DETECTED) + told(DRIFT_RESOLVED)} == {"5550001"}


def test_admin_flags_and_filters_drifted_wabas(client, waba: WhatsAppBusinessAccount) -> None:
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    waba_drift_record(
        waba_pk=waba.pk, problems={"phone_number:42": "Number 42 is FLAGGED"}, answered=set()
    )
    changelist = "/admin/onboarding/whatsappbusinessaccount/"
    assert "5550001" in client.get(changelist, {"drift": "yes"}).content.decode()
    assert "5550001" not in client.get(changelist, {"drift": "no"}).content.decode()
    page = client.get(f"{changelist}{waba.pk}/change/").content.decode()
    assert "Number 42 is FLAGGED" in page
