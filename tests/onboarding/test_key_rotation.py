"""Encryption keys rotate: new key first, re-encrypt every row, then the old key can go."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from onboarding.models import TechProvider
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT meta_app_secret FROM onboarding_techprovider WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_every_secret_under_the_new_key():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        tp = make_account(meta_app_secret="s3cret-app").tech_provider
        before = raw_secret(tp.pk)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW, OLD]):
        out = StringIO()
        call_command("rotate_encryption_key", stdout=out)
        assert "onboarding.TechProvider: 1 rows re-encrypted" in out.getvalue()
    after = raw_secret(tp.pk)
    assert after != before
    assert Fernet(NEW.encode()).decrypt(after.encode()) == b"s3cret-app"
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(after.encode())
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):  # the old key is gone
        fresh = TechProvider.objects.get(pk=tp.pk)
        assert fresh.meta_app_secret == "s3cret-app"
        assert fresh.webhook_secret.startswith("whsec_")


def test_generate_prints_a_usable_key():
    out = StringIO()
    call_command("rotate_encryption_key", "--generate", stdout=out)
    Fernet(out.getvalue().strip().encode())  # raises if malformed
