"""Output shapes of the EmbeddedSignup resources, shared by the list, detail and create APIs."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from onboarding import selectors
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    PhoneNumber,
    WhatsAppBusinessAccount,
)


def waba_resource_uri(waba: WhatsAppBusinessAccount) -> str:
    return reverse(
        "onboarding:embedded-signup-detail",
        kwargs={"auth_id": waba.tech_provider.auth_id, "waba_id": waba.waba_id},
    )


class PhoneNumberOutput(serializers.ModelSerializer[PhoneNumber]):
    class Meta:
        model = PhoneNumber
        fields = [
            "phone_number_id",
            "display_phone_number",
            "verified_name",
            "registration",
            "is_coexistence",
            "meta_status",
            "quality_rating",
            "code_verification_status",
            "name_status",
            "throughput_level",
            "messaging_limit_tier",
            "details_refreshed_at",
        ]


class OnboardingStepOutput(serializers.ModelSerializer[OnboardingStep]):
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = OnboardingStep
        fields = [
            "name",
            "position",
            "status",
            "attempts",
            "next_attempt_at",
            "note",
            "last_error",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "code": {"type": "integer", "nullable": True},
                "subcode": {"type": "integer", "nullable": True},
                "message": {"type": "string"},
                "fbtrace_id": {"type": "string"},
            },
        }
    )
    def get_last_error(self, step: OnboardingStep) -> dict[str, Any] | None:
        if step.last_error_code is None and not step.last_error_message:
            return None
        return {
            "code": step.last_error_code,
            "subcode": step.last_error_subcode,
            "message": step.last_error_message,
            "fbtrace_id": step.last_fbtrace_id,
        }


class OnboardingEventOutput(serializers.ModelSerializer[OnboardingEvent]):
    class Meta:
        model = OnboardingEvent
        fields = ["step", "from_status", "to_status", "reason", "detail", "actor", "created_at"]


EVENTS_SHOWN = 100  # the newest audit rows; the whole trail is in admin


class OnboardingOutput(serializers.ModelSerializer[Onboarding]):
    steps = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    events_total = serializers.SerializerMethodField()

    class Meta:
        model = Onboarding
        fields = ["status", "failure_reason", "completed_at", "steps", "events", "events_total"]

    @extend_schema_field(OnboardingStepOutput(many=True))
    def get_steps(self, onboarding: Onboarding) -> Any:
        return OnboardingStepOutput(selectors.onboarding_steps(onboarding), many=True).data

    @extend_schema_field(OnboardingEventOutput(many=True))
    def get_events(self, onboarding: Onboarding) -> Any:
        newest = selectors.onboarding_events(onboarding).reverse()[:EVENTS_SHOWN]
        return OnboardingEventOutput(list(newest)[::-1], many=True).data

    def get_events_total(self, onboarding: Onboarding) -> int:
        return selectors.onboarding_events(onboarding).count()


class WabaOutput(serializers.ModelSerializer[WhatsAppBusinessAccount]):
    phone_numbers = PhoneNumberOutput(many=True, read_only=True)
    onboarding_status = serializers.CharField(
        source="onboarding.status", read_only=True, allow_null=True
    )
    resource_uri = serializers.SerializerMethodField()

    class Meta:
        model = WhatsAppBusinessAccount
        fields = [
            "waba_id",
            "business_id",
            "reference",
            "status",
            "signup_event",
            "onboarding_status",
            "phone_numbers",
            "created_at",
            "updated_at",
            "resource_uri",
        ]

    def get_resource_uri(self, waba: WhatsAppBusinessAccount) -> str:
        return waba_resource_uri(waba)


class WabaDetailOutput(WabaOutput):
    onboarding = OnboardingOutput(read_only=True, allow_null=True)

    class Meta(WabaOutput.Meta):
        fields = [*WabaOutput.Meta.fields, "onboarding"]
