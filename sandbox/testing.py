"""Helpers for tests of any app that run against the sandbox in-process (live_server or the
test client): simulated signups, faults, the clock, webhook flushing, the call log.

Example::

    signup = simulate_signup()                       # code, waba_id, phone_number_id, ...
    inject_fault("phone_number.register", error_code=2, times=2)
    ...                                              # drive the platform
    flush_webhooks()                                 # deliver what the sandbox owes, in order
    assert sandbox_calls(endpoint="oauth.access_token", succeeded=True).count() == 1
"""

from typing import Any

from django.conf import settings

from sandbox import clock
from sandbox.models import SandboxApp, SandboxFault, SandboxWebhook
from sandbox.selectors import sandbox_calls, sandbox_webhooks
from sandbox.services import accounts, dispatch, faults
from sandbox.services.bootstrap import sandbox_bootstrap, sandbox_config_update

__all__ = [
    "advance_clock",
    "clear_faults",
    "configure",
    "flush_webhooks",
    "inject_fault",
    "reset_clock",
    "sandbox_calls",
    "sandbox_webhooks",
    "simulate_signup",
    "wait_for_webhooks",
]


def simulate_signup(*, app_id: str = "", **choices: Any) -> dict[str, Any]:
    """What POST /sandbox/control/signups/ answers: code, waba_id, phone_number_id, ..."""
    sandbox_bootstrap()
    app = SandboxApp.objects.get(app_id=app_id or settings.SANDBOX_APP_ID)
    return accounts.signup_complete(app=app, **choices).as_json()


def inject_fault(endpoint: str, **options: Any) -> SandboxFault:
    """E.g. `inject_fault("credit_line.share", error_code=4, times=2)`, or `kind="timeout"`."""
    return faults.fault_create(endpoint=endpoint, **options)


def clear_faults() -> int:
    return faults.fault_clear()


def configure(**changes: Any) -> None:
    """Runtime knobs, e.g. `configure(template_review_delay_s=0, read_after_ms=None)`."""
    sandbox_bootstrap()
    sandbox_config_update(**changes)


def flush_webhooks(*, ignore_delays: bool = True) -> list[SandboxWebhook]:
    """Deliver every pending webhook now, in order, in this thread (deterministic)."""
    return dispatch.flush(ignore_delays=ignore_delays)


def wait_for_webhooks(timeout: float = 10.0) -> bool:
    """With the background dispatcher on: wait until nothing due is left to send."""
    return dispatch.wait_until_idle(timeout=timeout)


def advance_clock(seconds: float) -> None:
    clock.advance(seconds)
    dispatch.wake()  # what falls due has moved (a no-op unless the dispatcher is a thread)


def reset_clock() -> None:
    clock.reset()
