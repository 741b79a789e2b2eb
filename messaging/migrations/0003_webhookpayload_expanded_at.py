"""Payload-first ingest: a payload's events are derived by the workers; `expanded_at` marks it done.

Payloads stored before this migration already have their events (the request wrote them), so
they are marked expanded with their own receipt time before the partial index is built.
"""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import F


def mark_existing_expanded(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    payloads = apps.get_model("messaging", "WebhookPayload")
    payloads.objects.filter(expanded_at__isnull=True).update(expanded_at=F("received_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_messages_templates_media"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookpayload",
            name="expanded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing_expanded, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="webhookpayload",
            index=models.Index(
                condition=models.Q(expanded_at__isnull=True),
                fields=["id"],
                name="webhookpayload_pending",
            ),
        ),
    ]
