"""Leak guard for the whole test run (SEC-7): no secret a test made reaches a log line.

Fixtures and helpers register the secrets they make (`register_secret`: auth tokens, business
tokens, codes, app secrets, signing secrets, verify tokens). A handler on the root logger formats
every record of the session the way the real handlers write it (with the redaction filter) and
keeps the set of word-like runs of 16+ characters it saw. After each test, a test whose lines
(or earlier lines) hold a registered secret fails with the secret's kind, never its value.

Cheap by design: a set of words and a set of fingerprints (a secret's longest run of
[A-Za-z0-9_-], which a random secret of 16+ characters has), compared by set intersection.
PINs (6 digits) are too short to look for in a whole run's logs without false alarms; they are
looked for in the database dump and the broker instead (tests/hardening/test_secrets_e2e.py).
Subprocesses (gunicorn, workers) log to files, which the end-to-end test reads itself.
"""

import logging
import re
from collections.abc import Iterator

import pytest

from config.logging import JsonFormatter, RedactSecretsFilter

_RUN = re.compile(r"[A-Za-z0-9_\-]{16,}")
_secrets: dict[str, str] = {}  # fingerprint -> kind
_unchecked_secrets: set[str] = set()
_words: set[str] = set()
_unchecked_words: set[str] = set()
_lines = 0


def fingerprint(value: str) -> str | None:
    """The longest run of word characters in a secret, if long enough to look for."""
    runs = _RUN.findall(value or "")
    return max(runs, key=len) if runs else None


def register_secret(value: str, kind: str = "secret") -> None:
    """Something no log line may contain, from now until the end of the run."""
    found = fingerprint(value)
    if found is not None and found not in _secrets:
        _secrets[found] = kind
        _unchecked_secrets.add(found)


class _Index(logging.Handler):
    """Formats each record as the console handler would and indexes the line's words."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.addFilter(RedactSecretsFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        global _lines
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not written
            return
        _lines += 1
        _unchecked_words.update(word for word in _RUN.findall(line) if word not in _words)


_HANDLER = _Index()


def leaked() -> list[str]:
    """Kinds of registered secrets seen in a line so far (checks only what is new)."""
    found = (_unchecked_words & _secrets.keys()) | (_unchecked_secrets & _words)
    _words.update(_unchecked_words)
    _unchecked_words.clear()
    _unchecked_secrets.clear()
    return sorted(_secrets[f] for f in found)


def _attach() -> None:
    root = logging.getLogger()
    if _HANDLER not in root.handlers:  # a test may have reconfigured logging
        root.addHandler(_HANDLER)


@pytest.fixture(autouse=True)
def log_leak_guard() -> Iterator[None]:
    _attach()
    yield
    kinds = leaked()
    if kinds:
        pytest.fail(f"a log line of this test holds a registered secret: {', '.join(kinds)}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"leak guard: {_lines} log lines, {len(_words)} distinct words, "
        f"{len(_secrets)} registered secrets, 0 leaked"
        if not leaked()
        else "leak guard: a registered secret was logged (see the failing test)"
    )
