"""An accepted signup enqueues its pipeline on commit, with only the onboarding id in the broker."""

import json

import pytest
import redis
from django.conf import settings

from onboarding.models import Onboarding

VALID = {
    "waba_id": "104996789012345",
    "business_id": "203456789012345",
    "phone_number_id": "1069999000001",
}


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"), reason="reads the Redis broker"
)
def test_the_first_task_is_published_after_commit_with_the_id_only(
    api, account, django_capture_on_commit_callbacks
):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api.post(account.url(), VALID, format="json").status_code == 200
    assert broker.llen("celery") == 0  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    raw = broker.lpop("celery")
    assert isinstance(raw, bytes)
    message = json.loads(raw)
    assert message["headers"]["task"] == "onboarding.onboarding_advance"
    assert message["headers"]["argsrepr"] == f"({Onboarding.objects.get().pk},)"


def test_a_refused_signup_enqueues_nothing(api, account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert api.post(account.url(), {}, format="json").status_code == 400
    assert callbacks == []
