"""App config for onboarding."""

from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from onboarding.api import openapi  # noqa: F401 - registers the auth scheme
