"""REST routes of messaging under /v1/Account/<auth_id>/: webhook deliveries, messages,
templates and inbound media."""

from django.urls import path

from messaging import apis, apis_messages
from messaging.apis_send import lean_send

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
    path("Message/", lean_send(apis_messages.MessageApi.as_view()), name="message-list"),
    path(
        "Message/<str:message_uuid>/",
        apis_messages.MessageDetailApi.as_view(),
        name="message-detail",
    ),
    path(
        "WhatsApp/Template/<str:waba_id>/",
        apis_messages.TemplateListApi.as_view(),
        name="template-list",
    ),
    path(
        "WhatsApp/Template/<str:waba_id>/Sync/",
        apis_messages.TemplateSyncApi.as_view(),
        name="template-sync",
    ),
    path(
        "WhatsApp/Template/<str:waba_id>/<str:template_id>/",
        apis_messages.TemplateDetailApi.as_view(),
        name="template-detail",
    ),
    path(
        "WhatsApp/Media/<str:media_id>/",
        apis_messages.MediaApi.as_view(),
        name="media-detail",
    ),
]
