"""config.sql.instance_insert writes exactly the row Django's own save would."""

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from config.sql import instance_insert
from messaging.models import Message
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount
from tests.conftest import Account

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "uuid", "created_at", "updated_at", "next_attempt_at"}


def message(account: Account, number: PhoneNumber) -> Message:
    return Message(
        tech_provider=account.tech_provider,
        waba_id=number.waba_id,
        sender=number,
        phone_number_id=number.phone_number_id,
        src="15550001234",
        dst="15559990001",
        kind="text",
        content={"body": "Grüße, {{1}} \\u0000-free", "preview_url": False},
        fallback={"name": "order_update", "language": {"code": "en_US"}},
        template_name="",
        callback_url="https://isv.example/status",
    )


def row(pk: int) -> dict[str, object]:
    found = Message.objects.get(pk=pk)
    return {k: v for k, v in model_to_dict(found).items() if k not in VOLATILE}


def test_the_static_insert_matches_the_orm(account: Account) -> None:
    waba = WhatsAppBusinessAccount.objects.create(
        tech_provider=account.tech_provider, waba_id="102000000000001", business_id="1"
    )
    number = PhoneNumber.objects.create(
        waba=waba, phone_number_id="103000000000001", display_phone_number="+1 555 000 1234"
    )
    by_orm, by_statement = message(account, number), message(account, number)
    by_orm.save(force_insert=True)
    instance_insert(by_statement)

    assert by_statement.pk is not None
    assert by_statement.pk != by_orm.pk
    assert not by_statement._state.adding
    assert row(by_statement.pk) == row(by_orm.pk)
    stored = Message.objects.get(pk=by_statement.pk)
    assert stored.uuid == by_statement.uuid
    assert stored.created_at == by_statement.created_at
    assert connection.vendor == "postgresql"  # the statement path, not the save() fallback
