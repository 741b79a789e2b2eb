"""REST routes of messaging under /v1/Account/<auth_id>/ (webhook deliveries; messages and
templates arrive with their issue)."""

from django.urls import path

from messaging import apis

app_name = "messaging"

urlpatterns = [
    path("WhatsApp/Webhook/", apis.WebhookConfigApi.as_view(), name="webhook"),
    path("WhatsApp/Webhook/Secret/", apis.WebhookSecretRotateApi.as_view(), name="webhook-secret"),
    path("WhatsApp/Webhook/Delivery/", apis.DeliveryListApi.as_view(), name="delivery-list"),
    path(
        "WhatsApp/Webhook/Delivery/<str:webhook_id>/",
        apis.DeliveryDetailApi.as_view(),
        name="delivery-detail",
    ),
    path(
        "WhatsApp/Webhook/Delivery/<str:webhook_id>/Replay/",
        apis.DeliveryReplayApi.as_view(),
        name="delivery-replay",
    ),
    path("WhatsApp/Webhook/Replay/", apis.DeliveryReplaySinceApi.as_view(), name="replay-since"),
]
