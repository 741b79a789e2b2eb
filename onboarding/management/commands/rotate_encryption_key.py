"""`manage.py rotate_encryption_key`: re-encrypt every secret at rest under the newest key.

Rotation: (1) `--generate` prints a new key; (2) put it FIRST in FIELD_ENCRYPTION_KEYS, keeping
the old ones after it, and restart; (3) run this command; (4) remove the old keys and restart.
Every EncryptedTextField of every installed app is covered.
"""

from argparse import ArgumentParser
from typing import Any

from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction

from onboarding.fields import EncryptedTextField

BATCH = 500


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


def _rotate_model(model: type[models.Model], names: list[str]) -> int:
    """Read each row's secrets (decrypting with any key) and write them back (newest key)."""
    rows = 0
    last_pk: Any = None
    while True:
        batch = model._default_manager.order_by("pk")
        if last_pk is not None:
            batch = batch.filter(pk__gt=last_pk)
        values = list(batch.values_list("pk", *names)[:BATCH])
        if not values:
            return rows
        with transaction.atomic():
            for pk, *secrets in values:
                model._default_manager.filter(pk=pk).update(
                    **dict(zip(names, secrets, strict=True))
                )
        rows += len(values)
        last_pk = values[-1][0]


class Command(BaseCommand):
    help = "Re-encrypt all secrets at rest under the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--generate", action="store_true", help="print a new key and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            self.stdout.write(Fernet.generate_key().decode())
            return
        for model, names in encrypted_fields():
            rows = _rotate_model(model, names)
            label = model._meta.label
            self.stdout.write(f"{label}: {rows} rows re-encrypted ({', '.join(names)})")
        self.stdout.write("Done: the old keys can now be removed from FIELD_ENCRYPTION_KEYS.")
