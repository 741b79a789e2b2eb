"""Staff views of the simulated Meta: every sandbox model, fault injection, the call log, and the
webhook outbox (with redelivery). Actions call sandbox services."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from sandbox import models
from sandbox.services import dispatch, faults, templates, webhooks
from sandbox.services.bootstrap import sandbox_config_get


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Simulated Meta state written by the simulator itself; shown, not edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.SandboxBusiness)
class BusinessAdmin(admin.ModelAdmin[models.SandboxBusiness]):
    list_display = ["business_id", "name", "is_partner", "created_at"]
    search_fields = ["business_id", "name"]


@admin.register(models.SandboxApp)
class AppAdmin(admin.ModelAdmin[models.SandboxApp]):
    list_display = ["app_id", "name", "business", "callback_url"]
    search_fields = ["app_id", "name"]


@admin.register(models.SandboxCreditLine)
class CreditLineAdmin(admin.ModelAdmin[models.SandboxCreditLine]):
    list_display = ["credit_line_id", "business", "legal_entity_name"]


class PhoneInline(admin.TabularInline[models.SandboxPhoneNumber, models.SandboxWaba]):
    model = models.SandboxPhoneNumber
    fields = ["phone_number_id", "display_phone_number", "status", "is_registered"]
    readonly_fields = ["phone_number_id", "display_phone_number", "status", "is_registered"]
    extra = 0
    can_delete = False


@admin.register(models.SandboxWaba)
class WabaAdmin(admin.ModelAdmin[models.SandboxWaba]):
    list_display = ["waba_id", "name", "business", "currency", "primary_funding_id", "created_at"]
    search_fields = ["waba_id", "name", "business__business_id"]
    inlines = [PhoneInline]


@admin.register(models.SandboxWabaShare)
class ShareAdmin(admin.ModelAdmin[models.SandboxWabaShare]):
    list_display = ["waba", "app", "created_at"]


@admin.register(models.SandboxSubscription)
class SubscriptionAdmin(admin.ModelAdmin[models.SandboxSubscription]):
    list_display = ["waba", "app", "override_callback_uri", "updated_at"]
    exclude = ["verify_token"]


@admin.register(models.SandboxPhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin[models.SandboxPhoneNumber]):
    list_display = [
        "phone_number_id",
        "display_phone_number",
        "waba",
        "status",
        "is_registered",
        "quality_rating",
        "throughput_mps",
        "register_error_code",
    ]
    list_filter = ["status", "is_registered", "is_coexistence", "quality_rating"]
    search_fields = ["phone_number_id", "display_phone_number"]
    exclude = ["pin_hash"]
    readonly_fields = ["has_two_step_pin"]

    @admin.display(boolean=True)
    def has_two_step_pin(self, obj: models.SandboxPhoneNumber) -> bool:
        return bool(obj.pin_hash)


@admin.register(models.SandboxRegistrationCall)
class RegistrationCallAdmin(ReadOnlyAdmin):
    list_display = ["phone_number", "action", "error_code", "created_at"]


@admin.register(models.SandboxAuthCode)
class AuthCodeAdmin(ReadOnlyAdmin):
    list_display = ["hint", "app", "business", "event", "issued_at", "expires_at", "used_at"]
    exclude = ["code_hash"]


@admin.register(models.SandboxToken)
class TokenAdmin(ReadOnlyAdmin):
    list_display = ["hint", "kind", "app", "business", "issued_at", "expires_at", "revoked_at"]
    list_filter = ["kind"]
    exclude = ["token_hash"]


@admin.register(models.SandboxCreditAllocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ["allocation_config_id", "waba", "currency", "request_status", "created_at"]


@admin.register(models.SandboxTemplate)
class TemplateAdmin(admin.ModelAdmin[models.SandboxTemplate]):
    list_display = ["name", "language", "category", "status", "waba", "review_due_at"]
    list_filter = ["status", "category"]
    search_fields = ["name", "template_id"]
    actions = ["approve", "reject", "pause", "disable"]

    def _set(self, request: HttpRequest, queryset: QuerySet[Any], status: str) -> None:
        for template in queryset.select_related("waba"):
            templates.template_status_set(template=template, status=status)
        self.message_user(request, f"{queryset.count()} template(s) now {status}.")

    @admin.action(description="Approve (sends the status webhook)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set(request, queryset, "APPROVED")

    @admin.action(description="Reject (sends the status webhook)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set(request, queryset, "REJECTED")

    @admin.action(description="Pause (sends the status webhook)")
    def pause(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set(request, queryset, "PAUSED")

    @admin.action(description="Disable (sends the status webhook)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._set(request, queryset, "DISABLED")


@admin.register(models.SandboxWindow)
class WindowAdmin(ReadOnlyAdmin):
    list_display = ["phone_number", "wa_id", "last_inbound_at"]


@admin.register(models.SandboxMessage)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["wamid", "direction", "phone_number", "wa_id", "type", "status", "created_at"]
    list_filter = ["direction", "type", "status"]
    search_fields = ["wamid", "wa_id"]


@admin.register(models.SandboxMedia)
class MediaAdmin(ReadOnlyAdmin):
    list_display = ["media_id", "mime_type", "file_size", "phone_number", "deleted_at"]
    exclude = ["content"]


@admin.register(models.SandboxFault)
class FaultAdmin(admin.ModelAdmin[models.SandboxFault]):
    list_display = [
        "id",
        "endpoint",
        "object_id",
        "kind",
        "error_code",
        "latency_ms",
        "with_effect",
        "remaining",
        "applied",
        "is_active",
    ]
    list_filter = ["is_active", "kind", "endpoint"]
    list_editable = ["is_active"]
    readonly_fields = ["applied"]
    actions = ["deactivate"]

    @admin.action(description="Deactivate")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        cleared = sum(faults.fault_clear(fault_id=fault.pk) for fault in queryset)
        self.message_user(request, f"{cleared} fault(s) deactivated.")


@admin.register(models.SandboxCall)
class CallAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "method",
        "endpoint",
        "object_id",
        "status_code",
        "error_code",
        "fault",
        "duration_ms",
    ]
    list_filter = ["endpoint", "method", "status_code"]
    search_fields = ["path", "object_id", "fbtrace_id"]
    date_hierarchy = "received_at"


@admin.register(models.SandboxWebhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "field",
        "target",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "deliver_after",
    ]
    list_filter = ["status", "field", "target"]
    search_fields = ["url", "waba_id", "body"]
    actions = ["redeliver", "send_now"]

    @admin.action(description="Deliver again (a duplicate, as Meta's retries)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for hook in queryset.select_related("app"):
            webhooks.webhook_redeliver(webhook=hook)
        self.message_user(request, "Queued duplicates.")

    @admin.action(description="Send every pending webhook now")
    def send_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        sent = dispatch.flush()
        self.message_user(request, f"Attempted {len(sent)} webhook(s).", messages.INFO)


@admin.register(models.SandboxConfig)
class ConfigAdmin(admin.ModelAdmin[models.SandboxConfig]):
    list_display = ["__str__", "template_review_delay_s", "reengagement_error", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.SandboxConfig]:
        sandbox_config_get()  # the row exists once anyone looks
        return super().get_queryset(request)
