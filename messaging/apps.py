"""App config for messaging."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.sql import lists_as_binary  # the workers' batch inserts and updates

        connection_created.connect(lists_as_binary, dispatch_uid="config.sql.lists_as_binary")
