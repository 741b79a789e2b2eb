"""JSON log lines with request, task, Tech Provider and WABA ids, and no secrets in any line."""

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.celery import app
from config.logging import (
    REDACTED,
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    RedactSecretsFilter,
    bind,
    bound,
    scope_close,
    scope_open,
)
from tests.conftest import Account

ROOT = Path(__file__).resolve().parents[2]
AUTH_TOKEN = "Zq7" + "x" * 37  # 40 characters, the shape of our auth tokens


class Capture:
    """A root handler set up like settings.LOGGING's console handler, writing to memory."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.handler.addFilter(ContextFilter())
        self.handler.addFilter(RedactSecretsFilter())

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    captured = Capture(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(captured.handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(captured.handler)
    root.setLevel(old_level)


def test_each_record_is_one_json_line_with_the_bound_ids(capture: Capture) -> None:
    token = scope_open(request_id="req-1")
    bind(auth_id="MAAAAAAAAAAAAAAAAAAA", waba_id="102290129340398", ignored=None)
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logging.getLogger("onboarding.test").exception("step %s failed", "subscribe")
    finally:
        scope_close(token)
    logging.getLogger("onboarding.test").info("after the request")

    first, second = capture.lines()
    assert first["level"] == "ERROR"
    assert first["logger"] == "onboarding.test"
    assert first["message"] == "step subscribe failed"
    assert first["timestamp"].endswith("Z")
    assert "T" in first["timestamp"]
    assert (first["request_id"], first["auth_id"], first["waba_id"]) == (
        "req-1",
        "MAAAAAAAAAAAAAAAAAAA",
        "102290129340398",
    )
    assert "ValueError: boom\nsecond line" in first["exception"]
    assert "request_id" not in second
    assert "auth_id" not in second
    assert bound() == {}


def test_extras_are_fields_of_the_line(capture: Capture) -> None:
    logging.getLogger("onboarding.graph").info(
        "graph call", extra={"fbtrace_id": "AbC", "graph_status": 200}
    )

    line = capture.lines()[0]
    assert line["fbtrace_id"] == "AbC"
    assert line["graph_status"] == 200


BASIC = base64.b64encode(f"MAABCDEFGHIJKLMNOPQR:{AUTH_TOKEN}".encode()).decode()
# (message template, its argument, the secret that must not appear)
SECRET_SHAPES = [
    ("Authorization: Basic %s", BASIC, BASIC),
    ("calling with Bearer %s", "SANDBOX-SYSTEM-USER-TOKEN", "SANDBOX-SYSTEM-USER-TOKEN"),
    ("token %s", "EAAGm0PX4ZCpsBAKZAZBx9Yq1", "EAAGm0PX4ZCpsBAKZAZBx9Yq1"),
    ("GET /oauth/access_token?client_secret=%s&code=AQD1xyz", "sEcReT-app-0123", "sEcReT-app-0123"),
    ("GET /oauth/access_token?client_id=1&code=%s", "AQDcodeValue99", "AQDcodeValue99"),
    ("debug_token?input_token=%s", "bizToken42abc", "bizToken42abc"),
    ("POST body access_token=%s&x=1", "plain-token-abc123", "plain-token-abc123"),
    (
        "signing with %s",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("issued %s", {"auth_id": "MAABCDEFGHIJKLMNOPQR", "auth_token": AUTH_TOKEN}, AUTH_TOKEN),
    ("register %s", '{"messaging_product": "whatsapp", "pin": "913374"}', "913374"),
    ("broker at %s", "redis://:hunter2-pass@redis.internal:6379/0", "hunter2-pass"),
    ("handshake hub.verify_token=%s&hub.challenge=1", "vt-abcdef-123", "vt-abcdef-123"),
    ("app %s", {"app_secret": "0123456789abcdef"}, "0123456789abcdef"),
]


@pytest.mark.parametrize(("template", "argument", "secret"), SECRET_SHAPES)
@pytest.mark.parametrize("formatter", [JsonFormatter, PlainFormatter])
def test_known_secret_shapes_never_reach_the_log(
    template: str, argument: Any, secret: str, formatter: type[logging.Formatter]
) -> None:
    captured = Capture(formatter())
    logger = logging.getLogger("tests.ops.secrets")
    logger.addHandler(captured.handler)
    logger.propagate = False
    try:
        logger.warning(template, argument)  # as an argument
        logger.warning(template % (argument,))  # already in the message
        logger.warning("in extras", extra={"client_secret": secret, "note": template % (argument,)})
        try:
            raise RuntimeError(template % (argument,))
        except RuntimeError:
            logger.exception("failure")  # in a traceback
    finally:
        logger.removeHandler(captured.handler)
        logger.propagate = True

    assert secret not in captured.text
    assert captured.text.count(REDACTED) >= 3  # message twice, traceback (JSON: extras too)


def test_redaction_keeps_what_operators_need() -> None:
    captured = Capture(JsonFormatter())
    logger = logging.getLogger("tests.ops.keep")
    logger.addHandler(captured.handler)
    logger.propagate = False
    try:
        logger.warning("graph POST /v26.0/123/register status=400 code=133005 fbtrace_id=Ab1")
        logger.warning("Basic authentication failed for auth_id=MAABCDEFGHIJKLMNOPQR")
    finally:
        logger.removeHandler(captured.handler)
        logger.propagate = True

    first, second = captured.lines()
    assert (
        first["message"] == "graph POST /v26.0/123/register status=400 code=133005 fbtrace_id=Ab1"
    )
    assert second["message"] == "Basic authentication failed for auth_id=MAABCDEFGHIJKLMNOPQR"


def test_the_request_id_is_taken_when_sane_and_echoed(client: Client, capture: Capture) -> None:
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lb-7f3a.91:2")

    assert response["X-Request-Id"] == "lb-7f3a.91:2"
    access = [line for line in capture.lines() if line["logger"] == "config.request"]
    assert access[-1]["request_id"] == "lb-7f3a.91:2"
    assert access[-1]["status"] == 404
    assert access[-1]["path"] == "/no-such-page/"


@pytest.mark.django_db
def test_secret_path_parts_and_query_strings_stay_out_of_access_lines(
    client: Client, capture: Capture
) -> None:
    client.get("/connect/pub123/status/st-SECRET-4567/?hub.verify_token=vt-SECRET-89")

    lines = capture.lines()
    access = [line for line in lines if line["logger"] == "config.request"][-1]
    assert access["path"] == "/connect/pub123/status/[REDACTED]/"
    assert "SECRET" not in capture.text
    django_lines = [line for line in lines if line["logger"] == "django.request"]
    assert django_lines  # Django logs every 4xx/5xx, after the middleware is done
    assert {line.get("request_id") for line in django_lines} == {access["request_id"]}


@pytest.mark.parametrize(
    "offered", ["", "x" * 129, 'a" "level": "CRITICAL', "line\nbreak", "../../etc", "-leading"]
)
def test_an_insane_request_id_is_replaced(client: Client, offered: str) -> None:
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=offered)

    assert response["X-Request-Id"] != offered
    assert len(response["X-Request-Id"]) == 32
    int(response["X-Request-Id"], 16)


def test_api_lines_carry_the_tech_provider(
    api: APIClient, account: Account, capture: Capture
) -> None:
    response = api.get(account.url(), HTTP_X_REQUEST_ID="req-api-1")

    assert response.status_code == 200
    assert response["X-Request-Id"] == "req-api-1"
    access = [line for line in capture.lines() if line["logger"] == "config.request"][-1]
    assert access["request_id"] == "req-api-1"
    assert access["auth_id"] == account.auth_id
    assert account.auth_token not in capture.text


def test_failed_auth_lines_carry_no_tech_provider(
    client: Client, account: Account, capture: Capture
) -> None:
    response = client.get(account.url(), HTTP_AUTHORIZATION="Basic " + BASIC)

    assert response.status_code == 401
    access = [line for line in capture.lines() if line["logger"] == "config.request"][-1]
    assert "auth_id" not in access
    assert AUTH_TOKEN not in capture.text


@app.task(name="tests.ops.log_something")
def log_something(waba_id: str) -> None:
    bind(waba_id=waba_id)
    logging.getLogger("tests.ops.task").info("working on it")


def test_task_lines_carry_the_task_id_and_nothing_leaks_after(capture: Capture) -> None:
    result = log_something.apply(args=("102290129340398",), task_id="task-abc-1")

    assert result.successful()
    line = next(line for line in capture.lines() if line["message"] == "working on it")
    assert line["task_id"] == "task-abc-1"
    assert line["task"] == "tests.ops.log_something"
    assert line["waba_id"] == "102290129340398"
    assert bound() == {}  # task_postrun closed the task's scope


def _run_manage(env: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    code = (
        "import logging; logging.getLogger('probe').warning("
        "'hello access_token=%s', 'EAAsecretvalue1234567890')"
    )
    environment = {k: v for k, v in os.environ.items() if k not in drop}
    environment.update(env, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stderr


def test_log_format_json_writes_json_lines_from_settings() -> None:
    stderr = _run_manage({"LOG_FORMAT": "json"})

    line = json.loads(stderr.strip().splitlines()[-1])
    assert line["logger"] == "probe"
    assert line["level"] == "WARNING"
    assert line["message"] == "hello access_token=[REDACTED]"


def test_json_is_the_default_when_debug_is_off() -> None:
    production = {
        "DEBUG": "False",
        "SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHkta2V5LTMyLWJ5dGVzLWxvbmctISEhISE=",
        "SANDBOX_ENABLED": "False",
        "META_APP_ID": "1",
        "META_APP_SECRET": "s",
        "META_SYSTEM_USER_TOKEN": "t",
        "META_CREDIT_LINE_ID": "2",
        "META_WEBHOOK_VERIFY_TOKEN": "v",
    }
    stderr = _run_manage(production, drop=("LOG_FORMAT",))

    line = json.loads(stderr.strip().splitlines()[-1])
    assert line["message"] == "hello access_token=[REDACTED]"


def test_plain_is_the_default_in_development() -> None:
    stderr = _run_manage({"DEBUG": "True"}, drop=("LOG_FORMAT",))

    assert stderr.strip().splitlines()[-1].endswith("WARNING probe hello access_token=[REDACTED]")
