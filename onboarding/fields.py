"""EncryptedTextField: a text column whose value is Fernet ciphertext in the database."""

from typing import Any

from django.db import models

from onboarding import crypto


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Stores `encrypt(value)`; reads back the plaintext. Empty stays empty (nothing to hide)."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return crypto.encrypt(str(value))

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value in (None, ""):
            return value
        return crypto.decrypt(value)
