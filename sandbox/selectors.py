"""Reads of the simulator's state for tests, the control API and the admin."""

from datetime import datetime

from django.db.models import QuerySet

from sandbox.models import SandboxCall, SandboxWebhook


def sandbox_calls(
    *,
    endpoint: str | None = None,
    method: str | None = None,
    object_id: str | None = None,
    status_code: int | None = None,
    error_code: int | None = None,
    succeeded: bool | None = None,
    since: datetime | None = None,
) -> QuerySet[SandboxCall]:
    """Calls the Graph simulator received, oldest first, e.g. to assert a code was exchanged
    exactly once: `sandbox_calls(endpoint="oauth.access_token", succeeded=True).count() == 1`."""
    calls = SandboxCall.objects.all()
    if endpoint is not None:
        calls = calls.filter(endpoint=endpoint)
    if method is not None:
        calls = calls.filter(method=method.upper())
    if object_id is not None:
        calls = calls.filter(object_id=object_id)
    if status_code is not None:
        calls = calls.filter(status_code=status_code)
    if error_code is not None:
        calls = calls.filter(error_code=error_code)
    if succeeded is not None:
        calls = (
            calls.filter(status_code__lt=400) if succeeded else calls.exclude(status_code__lt=400)
        )
    if since is not None:
        calls = calls.filter(received_at__gte=since)
    return calls.order_by("id")


def sandbox_webhooks(
    *,
    field: str | None = None,
    status: str | None = None,
    waba_id: str | None = None,
    target: str | None = None,
) -> QuerySet[SandboxWebhook]:
    """Webhooks the simulator queued or sent, in delivery order."""
    hooks = SandboxWebhook.objects.all()
    if field is not None:
        hooks = hooks.filter(field=field)
    if status is not None:
        hooks = hooks.filter(status=status)
    if waba_id is not None:
        hooks = hooks.filter(waba_id=waba_id)
    if target is not None:
        hooks = hooks.filter(target=target)
    return hooks.order_by("deliver_after", "id")
