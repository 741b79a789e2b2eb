"""The session's leak guard (tests/leaks.py) sees what the log handlers write: a registered
secret in a line is found, one the redaction filter removed is not."""

import logging
import secrets

from tests import leaks

logger = logging.getLogger("tests.hardening.leak_guard")


def test_a_registered_secret_in_a_log_line_is_found() -> None:
    assert leaks.leaked() == []  # nothing pending from earlier tests
    secret = secrets.token_urlsafe(30)
    leaks.register_secret(secret, "test secret")
    logger.warning("careless: %s", secret)
    assert leaks.leaked() == ["test secret"]  # taken by this check; the guard stays quiet


def test_a_secret_logged_before_it_was_registered_is_found_too() -> None:
    secret = "AQ" + secrets.token_hex(40)
    logger.warning("early: %s", secret.lower())  # a different string: not the secret
    logger.warning("early: [%s]", secret)
    leaks.register_secret(secret, "code")
    assert leaks.leaked() == ["code"]


def test_what_the_redaction_filter_removes_is_not_a_leak() -> None:
    secret = secrets.token_hex(24)
    leaks.register_secret(secret, "client secret")
    logger.warning("graph call with client_secret=%s&code=%s", secret, secret)
    logger.warning("header Authorization: Bearer %s", secret)
    assert leaks.leaked() == []
