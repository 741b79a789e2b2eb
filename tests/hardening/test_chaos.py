"""The chaos run at CI size (scripts/chaos.py): 20 onboardings and 500 Meta webhook events
through gunicorn, beat and three workers on a redis-server of its own, while workers are
SIGKILLed every 2-6 s and Redis is restarted once without persistence. Everything ends final,
no event is lost or stored twice, every delivery reaches the Tech Provider, and no code
exchange, registration or credit share happened twice (the sandbox's call log).

Bigger on demand: CHAOS_ONBOARDINGS=200 CHAOS_EVENTS=5000 (or `python -m scripts.chaos`).
"""

import os
import shutil

import pytest
from django.conf import settings
from django.db import connections

from scripts.chaos import run

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or shutil.which("redis-server") is None
        or not settings.SANDBOX_ENABLED,
        reason="needs PostgreSQL, redis-server and the sandbox",
    ),
]

ONBOARDINGS = int(os.environ.get("CHAOS_ONBOARDINGS", "20"))
EVENTS = int(os.environ.get("CHAOS_EVENTS", "500"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))


def test_nothing_is_lost_or_repeated_under_worker_kills_and_a_redis_restart(
    transactional_db: None,
) -> None:
    db = connections["default"].settings_dict
    figures = run(
        database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        onboardings=ONBOARDINGS,
        events=EVENTS,
        seed=SEED,
        timeout=300,
    )
    print("\n" + figures.line())  # noqa: T201 - figures, read with -s
    assert not figures.problems, figures.problems
    assert figures.worker_kills >= 2
    assert figures.redis_restarts == 1
    assert figures.final["active"] == ONBOARDINGS
    assert figures.final["events_stored"] == EVENTS
    assert figures.final["events_lost"] == figures.final["events_doubled"] == 0
    assert figures.final["registered_twice"] == figures.final["credit_shared_twice"] == 0
