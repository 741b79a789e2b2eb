"""Secrets never reach the database in plain text: a pg_dump holds no token and no app secret."""

import subprocess

import pytest
from django.db import connection

from onboarding.models import TechProvider, WhatsAppBusinessAccount
from tests.conftest import make_account


def pg_dump() -> bytes:
    db = connection.settings_dict
    command = [
        "pg_dump",
        "--data-only",
        "-h",
        db["HOST"] or "127.0.0.1",
        "-p",
        str(db["PORT"] or 5432),
        "-U",
        db["USER"] or "postgres",
        db["NAME"],
    ]
    return subprocess.run(command, check=True, capture_output=True, timeout=60).stdout


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump needs PostgreSQL")
def test_a_database_dump_holds_no_auth_token_app_secret_or_business_token(transactional_db):
    app_secret = "tp-app-secret-4f1b2c3d4e5f60718293a4b5c6d7e8f9"
    account = make_account(meta_app_secret=app_secret, meta_app_id="123456789")
    tp = TechProvider.objects.get(pk=account.tech_provider.pk)
    from onboarding.services.signup import embedded_signup_submit
    from onboarding.signup_input import signup_input_validate

    business_token = "EAAG-business-token-0123456789abcdefghij"
    embedded_signup_submit(
        tech_provider=tp,
        signup=signup_input_validate(
            {"waba_id": "1234567", "business_id": "7654321", "phone_number_id": "5555555"}
        ),
        business_token=business_token,
    )
    dump = pg_dump()
    assert tp.auth_id.encode() in dump  # the dump is real and holds our rows
    for secret in (account.auth_token, app_secret, tp.webhook_secret, business_token):
        assert secret.encode() not in dump
    # and yet they read back through the model
    assert TechProvider.objects.get(pk=tp.pk).meta_app_secret == app_secret
    assert WhatsAppBusinessAccount.objects.get().business_token == business_token
