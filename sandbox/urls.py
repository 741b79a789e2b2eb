"""Sandbox routes under /sandbox/ (mounted only when SANDBOX_ENABLED): the Graph simulator,
media downloads, the control API, and the Facebook SDK stand-in with its signup dialog."""

from django.urls import path, re_path

from sandbox.control import views as control
from sandbox.dialog import views as dialog
from sandbox.graph.download import media_download
from sandbox.graph.views import graph

app_name = "sandbox"

urlpatterns = [
    re_path(r"^graph/(?P<version>v[0-9]+\.[0-9]+)/(?P<path>.*)$", graph, name="graph"),
    re_path(r"^graph/(?P<path>.*)$", graph, name="graph-unversioned"),
    path("lookaside/whatsapp_business/attachments/", media_download, name="media-download"),
    path("sdk.js", dialog.sdk, name="sdk"),
    path("dialog/oauth/", dialog.dialog, name="dialog"),
    path("dialog/oauth/complete/", dialog.complete, name="dialog-complete"),
    path("control/signups/", control.signups, name="control-signups"),
    path("control/apps/", control.apps, name="control-apps"),
    path("control/faults/", control.fault_list, name="control-faults"),
    path("control/faults/<int:fault_id>/", control.fault_detail, name="control-fault"),
    path("control/calls/", control.calls, name="control-calls"),
    path("control/webhooks/", control.webhook_list, name="control-webhooks"),
    path(
        "control/webhooks/<int:webhook_id>/redeliver/",
        control.webhook_redeliver,
        name="control-webhook-redeliver",
    ),
    path("control/flush/", control.flush, name="control-flush"),
    path("control/inbound/", control.inbound, name="control-inbound"),
    path("control/messages/<path:wamid>/statuses/", control.statuses, name="control-statuses"),
    path(
        "control/phone-numbers/<str:phone_number_id>/",
        control.phone_number,
        name="control-phone-number",
    ),
    path(
        "control/phone-numbers/<str:phone_number_id>/quality/",
        control.quality,
        name="control-quality",
    ),
    path("control/templates/<str:template_id>/", control.template_status, name="control-template"),
    path(
        "control/wabas/<str:waba_id>/account-update/",
        control.account_update,
        name="control-account-update",
    ),
    path("control/config/", control.config, name="control-config"),
    path("control/clock/", control.clock_view, name="control-clock"),
    path("control/reset/", control.reset, name="control-reset"),
]
