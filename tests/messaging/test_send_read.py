"""The send API's one read: the Tech Provider a credential names and its sending number together
(messaging.selectors.tech_provider_and_sender) give what the two separate reads give, in one
statement on PostgreSQL."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.selectors import Sender, sender_for_send, tech_provider_and_sender
from onboarding.models import TechProvider
from onboarding.selectors import tech_provider_for_auth
from tests.conftest import Account
from tests.messaging.sending import CUSTOMER, approved_template, open_window, sending_waba

pytestmark = pytest.mark.django_db

SRC = "15550001111"
TEMPLATE = ("order_update", "en_US")


def _separately(auth_id: str, **lookup: Any) -> tuple[TechProvider | None, Sender | None]:
    found = tech_provider_for_auth(auth_id)
    if found is None:
        return None, None
    return found, sender_for_send(tech_provider=found, **lookup)


def _fields(tech_provider: TechProvider | None) -> dict[str, Any] | None:
    if tech_provider is None:
        return None
    deferred = tech_provider.get_deferred_fields()
    return {
        f.attname: getattr(tech_provider, f.attname)
        for f in TechProvider._meta.concrete_fields
        if f.attname not in deferred
    } | {"deferred": sorted(deferred)}


def _same(auth_id: str, **lookup: Any) -> tuple[TechProvider | None, Sender | None]:
    together = tech_provider_and_sender(auth_id=auth_id, **lookup)
    apart = _separately(auth_id, **lookup)
    assert _fields(together[0]) == _fields(apart[0])
    assert together[1] == apart[1]
    return together


LOOKUPS: dict[str, dict[str, Any]] = {
    "text, one recipient": {"src": SRC, "dst": CUSTOMER, "template": None, "fallback": None},
    "several recipients": {"src": SRC, "dst": None, "template": None, "fallback": None},
    "template and fallback": {
        "src": SRC,
        "dst": CUSTOMER,
        "template": TEMPLATE,
        "fallback": ("missing", "en"),
    },
    "not a number of this account": {
        "src": "15559999999",
        "dst": CUSTOMER,
        "template": None,
        "fallback": None,
    },
}


@pytest.mark.parametrize("lookup", LOOKUPS.values(), ids=LOOKUPS.keys())
def test_it_reads_what_the_two_reads_read(account: Account, lookup: dict[str, Any]) -> None:
    waba = sending_waba(account.tech_provider)
    open_window()
    approved_template(waba)
    tech_provider, sender = _same(account.auth_id, **lookup)
    assert tech_provider is not None
    assert tech_provider.pk == account.tech_provider.pk
    assert (sender is None) == (lookup["src"] != SRC)
    if sender is not None and lookup["template"]:
        assert (sender.template.status, sender.fallback.status) == ("APPROVED", None)


def test_a_closed_window_and_no_number_read_alike(account: Account) -> None:
    sending_waba(account.tech_provider)
    open_window(hours_ago=30)
    _, sender = _same(account.auth_id, **LOOKUPS["text, one recipient"])
    assert sender is not None
    assert sender.window_open is False


def test_another_accounts_number_is_not_found(account: Account, other_account: Account) -> None:
    sending_waba(other_account.tech_provider)
    tech_provider, sender = _same(account.auth_id, **LOOKUPS["text, one recipient"])
    assert tech_provider is not None
    assert sender is None


def test_an_unknown_auth_id_finds_nothing(account: Account) -> None:
    sending_waba(account.tech_provider)
    assert _same("MAXXXXXXXXXXXXXXXXXX", **LOOKUPS["text, one recipient"]) == (None, None)


def test_it_is_one_statement_and_leaves_the_secrets_encrypted(account: Account) -> None:
    sending_waba(account.tech_provider)
    with CaptureQueriesContext(connection) as queries:
        tech_provider, _ = tech_provider_and_sender(
            auth_id=account.auth_id, **LOOKUPS["text, one recipient"]
        )
    expected = 1 if connection.vendor == "postgresql" else 2
    assert len(queries) == expected
    assert tech_provider is not None
    assert "webhook_secret" in tech_provider.get_deferred_fields()
