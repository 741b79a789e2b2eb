"""config.sql.lists_as_binary: on PostgreSQL with server-side binding a list goes as a binary
array, and bulk_create (one array per column) stores every value exactly as given."""

import pytest
from django.db import connection
from psycopg import pq
from psycopg.adapt import PyFormat

from messaging.models import Message
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount
from tests.conftest import Account
from tests.test_sql_insert import message

pytestmark = pytest.mark.django_db

# what the text format has to quote or escape inside an array: quotes, backslashes, commas,
# braces, blanks, the word NULL and the empty string
AWKWARD = ['say "hi"', "back\\slash", "a,b", "{x}", " spaced ", "NULL", "", "Grüße ✓"]


def test_a_list_is_sent_as_a_binary_array() -> None:
    connection.ensure_connection()
    if not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        pytest.skip("binary parameters need PostgreSQL with server-side binding")
    dumper = connection.connection.adapters.get_dumper(list, PyFormat.AUTO)
    assert dumper.format == pq.Format.BINARY


def test_bulk_create_stores_awkward_text_and_json_as_given(account: Account) -> None:
    waba = WhatsAppBusinessAccount.objects.create(
        tech_provider=account.tech_provider, waba_id="102000000000002", business_id="1"
    )
    number = PhoneNumber.objects.create(
        waba=waba, phone_number_id="103000000000002", display_phone_number="+1 555 000 1234"
    )
    rows = []
    for n, text in enumerate(AWKWARD):
        row = message(account, number)
        row.dst = f"1555999{n:04d}"
        row.content = {"body": text, "n": n}
        row.template_name = text
        rows.append(row)
    Message.objects.bulk_create(rows)

    stored = Message.objects.filter(sender=number).order_by("dst")
    assert [(m.template_name, m.content) for m in stored] == [
        (text, {"body": text, "n": n}) for n, text in enumerate(AWKWARD)
    ]
