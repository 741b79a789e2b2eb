"""Routes Meta calls: the app-level webhook and the per-WABA callback URLs."""

from django.conf import settings
from django.urls import path

from messaging import webhooks

app_name = "webhooks"

# settings.WABA_WEBHOOK_PATH is "/webhooks/meta/waba/{waba_id}/": the same route, Django-style.
_WABA_ROUTE = settings.WABA_WEBHOOK_PATH.lstrip("/").replace("{waba_id}", "<str:waba_id>")

urlpatterns = [
    path("webhooks/meta/", webhooks.meta_webhook, name="meta"),
    path(_WABA_ROUTE, webhooks.waba_webhook, name="meta-waba"),
]
