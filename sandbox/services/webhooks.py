"""Webhooks the simulated Meta owes the platform: Meta's payload shapes, routed where Meta sends
them, queued in the outbox (SandboxWebhook) and delivered by `sandbox.services.dispatch`.

Routing follows Meta: only apps subscribed to a WABA hear about it; the fields that honour
overrides go to the phone number's override, else the WABA's override, else the app's callback
URL; template and account fields always go to the app's callback URL.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from sandbox import clock
from sandbox.models import (
    SandboxApp,
    SandboxPhoneNumber,
    SandboxSubscription,
    SandboxWaba,
    SandboxWabaShare,
    SandboxWebhook,
)
from sandbox.services import dispatch

SKIPPED = SandboxWebhook.Status.SKIPPED

OVERRIDABLE_FIELDS = frozenset(
    {
        "messages",
        "message_echoes",
        "calls",
        "consumer_profile",
        "messaging_handovers",
        "group_lifecycle_update",
        "group_participants_update",
        "group_settings_update",
        "group_status_update",
        "smb_message_echoes",
        "smb_app_state_sync",
        "history",
        "account_settings_update",
    }
)


def app_callback_url(app: SandboxApp) -> str:
    return app.callback_url or f"{settings.SANDBOX_WEBHOOK_BASE_URL}/webhooks/meta/"


def envelope(*, entry_id: str, changes: list[tuple[str, dict[str, Any]]], with_time: bool) -> str:
    """The JSON body of one POST (one entry; Meta's `messages` entries carry no `time`)."""
    entry: dict[str, Any] = {"id": entry_id}
    if with_time:
        entry["time"] = int(clock.now().timestamp())
    entry["changes"] = [{"value": value, "field": field} for field, value in changes]
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [entry]}, separators=(",", ":")
    )


def metadata(phone: SandboxPhoneNumber) -> dict[str, str]:
    return {
        "display_phone_number": phone.display_phone_number,
        "phone_number_id": phone.phone_number_id,
    }


def _route(
    field: str, sub: SandboxSubscription, phone: SandboxPhoneNumber | None
) -> tuple[str, str]:
    if field in OVERRIDABLE_FIELDS:
        if phone is not None and phone.override_callback_uri:
            return phone.override_callback_uri, "phone"
        if sub.override_callback_uri:
            return sub.override_callback_uri, "waba"
    return app_callback_url(sub.app), "app"


@dataclass(frozen=True)
class Queued:
    """One POST to queue for every app subscribed to a WABA."""

    body: str
    description: str
    delay_ms: int = 0


def webhook_enqueue_for_waba(
    *,
    waba: SandboxWaba,
    field: str,
    body: str,
    description: str,
    phone: SandboxPhoneNumber | None = None,
    delay_ms: int = 0,
) -> list[SandboxWebhook]:
    """Queue one POST per app subscribed to the WABA; shared but unsubscribed apps get a
    SKIPPED row so the admin shows why nothing arrived."""
    return webhooks_enqueue_for_waba(
        waba=waba, field=field, posts=[Queued(body, description, delay_ms)], phone=phone
    )


@transaction.atomic(savepoint=False)
def webhooks_enqueue_for_waba(
    *,
    waba: SandboxWaba,
    field: str,
    posts: list[Queued],
    phone: SandboxPhoneNumber | None = None,
) -> list[SandboxWebhook]:
    """Several POSTs, queued as that many `webhook_enqueue_for_waba` calls in a row would (the
    same rows in the same order) with the subscriptions read once and the rows inserted at once."""
    subscriptions = list(SandboxSubscription.objects.filter(waba=waba).select_related("app"))
    subscribed = {sub.app_id for sub in subscriptions}
    skipped = list(
        SandboxWabaShare.objects.filter(waba=waba)
        .exclude(app_id__in=subscribed)
        .select_related("app")
    )
    rows, hooks = [], []
    for post in posts:
        deliver_after = clock.now() + timedelta(milliseconds=post.delay_ms)
        for sub in subscriptions:
            url, target = _route(field, sub, phone)
            hook = _row(sub.app, url, target, field, waba.waba_id, post, deliver_after)
            rows.append(hook)
            hooks.append(hook)
        for share in skipped:
            url = app_callback_url(share.app)
            rows.append(
                _row(share.app, url, "app", field, waba.waba_id, post, deliver_after, SKIPPED)
            )
    SandboxWebhook.objects.bulk_create(rows)
    if hooks:
        transaction.on_commit(dispatch.wake)
    return hooks


def _row(
    app: SandboxApp,
    url: str,
    target: str,
    field: str,
    waba_id: str,
    post: Queued,
    deliver_after: datetime,
    status: str = SandboxWebhook.Status.PENDING,
) -> SandboxWebhook:
    return SandboxWebhook(
        app=app,
        url=url,
        target=target,
        field=field,
        waba_id=waba_id,
        body=post.body,
        deliver_after=deliver_after,
        description=post.description[:200],
        status=status,
    )


@transaction.atomic
def webhook_enqueue_for_app(
    *, app: SandboxApp, field: str, waba_id: str, body: str, description: str, delay_ms: int = 0
) -> SandboxWebhook:
    """Queue one POST to the app's own callback URL (account-level fields)."""
    deliver_after = clock.now() + timedelta(milliseconds=delay_ms)
    return _create(
        app, app_callback_url(app), "app", field, waba_id, body, deliver_after, description
    )


@transaction.atomic
def webhook_redeliver(*, webhook: SandboxWebhook, times: int = 1) -> list[SandboxWebhook]:
    """Duplicate deliveries: the same bytes to the same URL again, as Meta's retries do."""
    now = clock.now()
    return [
        _create(
            webhook.app,
            webhook.url,
            webhook.target,
            webhook.field,
            webhook.waba_id,
            webhook.body,
            now,
            f"duplicate of #{webhook.pk}",
        )
        for _ in range(times)
    ]


def _create(
    app: SandboxApp,
    url: str,
    target: str,
    field: str,
    waba_id: str,
    body: str,
    deliver_after: datetime,
    description: str,
    status: str = SandboxWebhook.Status.PENDING,
) -> SandboxWebhook:
    hook = SandboxWebhook.objects.create(
        app=app,
        url=url,
        target=target,
        field=field,
        waba_id=waba_id,
        body=body,
        deliver_after=deliver_after,
        description=description[:200],
        status=status,
    )
    if status == SandboxWebhook.Status.PENDING:
        transaction.on_commit(dispatch.wake)
    return hook
