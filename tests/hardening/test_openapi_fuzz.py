"""Schemathesis against the live schema of a live server (gunicorn, PostgreSQL, Redis): every
operation of /api/schema/ fuzzed with all of schemathesis's checks (ignored auth, status-code,
content-type, header and response-schema conformance, positive/negative data, unsupported
methods, use-after-free, ...) in every phase (examples, coverage, fuzzing, stateful).

Pass: no failed check at all, which includes zero 5xx and only documented statuses. It runs
twice: with drawn ids, then with the path ids pinned to real objects of the Tech Provider, so
the 200 answers of the detail routes are checked against their schema too.

Size: FUZZ_EXAMPLES (default 20 per operation and phase) and FUZZ_SEED (default 1), e.g.
`FUZZ_EXAMPLES=500 FUZZ_SEED=$RANDOM pytest tests/hardening/test_openapi_fuzz.py -s`.
"""

import base64
import collections
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import settings
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from messaging.models import Delivery
from onboarding.services.tech_providers import tech_provider_create
from tests.e2e.stack import Stack
from tests.hardening.conftest import PORTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

STACK_PORTS = PORTS[:10]
STACK_ENV = {
    # Schemathesis sends hundreds of calls a second and, for ignored_auth, many without or with
    # wrong credentials: the rate limit and the login lockout (tests/ops, onboarding tests)
    # would turn the rest of the run into 429s.
    "API_RATE_LIMIT_PER_S": "0",
    "API_AUTH_FAILURE_LIMIT": "1000000",
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("FUZZ_SEED", "1"))
# Valid data may still be refused for what the schema cannot say: a WABA already onboarded or a
# URL that resolves to a private address (400), a drawn id that does not exist (404), retrying
# an onboarding that did not fail (409), an Idempotency-Key drawn twice for two bodies (422).
POSITIVE_STATUSES = ["2xx", 400, 404, 409, 422]


@dataclass
class Figures:
    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Fixture:
    auth_id: str
    auth_token: str
    waba_ids: list[str]
    webhook_ids: list[str]


def _basic(auth_id: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode()}


@pytest.fixture
def data(stack: Stack, transactional_db: None) -> Fixture:
    """A Tech Provider with WABAs accepted through the API and deliveries in its log."""
    stack.control("POST", "reset/")
    issued = tech_provider_create(name="Fuzzed ISV")
    auth_id, token = issued.tech_provider.auth_id, issued.auth_token
    waba_ids = []
    for _ in range(2):
        signup = stack.signup()
        body = {k: signup[k] for k in ("waba_id", "business_id", "phone_number_id")}
        url = f"{stack.url}/v1/Account/{auth_id}/WhatsApp/EmbeddedSignup/"
        answer = requests.post(url, json=body, headers=_basic(auth_id, token), timeout=30)
        assert answer.status_code == 200, answer.text
        waba_ids.append(signup["waba_id"])
    webhook_ids = [f"evt_fuzz{n:04d}" for n in range(3)]
    for webhook_id in webhook_ids:
        Delivery.objects.create(
            tech_provider=issued.tech_provider,
            webhook_id=webhook_id,
            event_type="message.status",
            body=f'{{"id": "{webhook_id}"}}',
            state=Delivery.State.FAILED,
        )
    return Fixture(auth_id, token, waba_ids, webhook_ids)


def fuzz(stack: Stack, data: Fixture, *, examples: int, pinned: dict[str, str]) -> Figures:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": stack.url,
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "max_response_time": 2.0,
            },
            "generation": {
                "max-examples": examples,
                "allow-x00": True,
                # Credentials come from `auth`; a generated Authorization header is not ours.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"max-steps": 10}},
            "auth": {"basic": {"username": data.auth_id, "password": data.auth_token}},
            "parameters": {"path.auth_id": data.auth_id, **pinned},
        }
    )
    schema = schemathesis.openapi.from_url(f"{stack.url}/api/schema/?format=json", config=config)
    figures = Figures()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            _record(figures, event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            figures.errors.append(f"{type(event).__name__}: {getattr(event, 'info', event)}")
    return figures


def _record(figures: Figures, recorder: Any) -> None:
    for interaction in recorder.interactions.values():
        figures.requests += 1
        if interaction.response is not None:
            figures.statuses[interaction.response.status_code] += 1
    for checks in recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                figures.failures.append(
                    f"{recorder.label}: {check.name}: {failure.title}\n{failure.message}\n"
                    f"{check.failure_info.code_sample}"
                )


def _report(name: str, figures: Figures) -> None:
    statuses = " ".join(f"{s}={n}" for s, n in sorted(figures.statuses.items()))
    server_errors = sum(n for s, n in figures.statuses.items() if s >= 500)
    print(  # noqa: T201 - figures, read with -s
        f"\nFUZZ {name}: requests={figures.requests} failures={len(figures.failures)} "
        f"errors={len(figures.errors)} 5xx={server_errors} statuses: {statuses}"
    )


def _assert_clean(figures: Figures) -> None:
    assert not figures.errors, "\n".join(figures.errors[:5])
    assert not figures.failures, "\n\n".join(dict.fromkeys(figures.failures))
    assert not [s for s in figures.statuses if s >= 500]
    assert figures.requests > 0


def test_schemathesis_finds_nothing_with_drawn_ids(stack: Stack, data: Fixture) -> None:
    figures = fuzz(stack, data, examples=EXAMPLES, pinned={})
    _report("drawn ids", figures)
    _assert_clean(figures)
    assert figures.statuses[200]
    assert figures.statuses[400]
    assert figures.statuses[401]


def test_schemathesis_finds_nothing_on_real_objects(stack: Stack, data: Fixture) -> None:
    pinned = {"path.waba_id": data.waba_ids[0], "path.webhook_id": data.webhook_ids[0]}
    figures = fuzz(stack, data, examples=max(4, EXAMPLES // 4), pinned=pinned)
    _report("real ids", figures)
    _assert_clean(figures)
    assert figures.statuses[200]  # the detail reads
    assert figures.statuses[409]  # a Retry of an onboarding that did not fail
