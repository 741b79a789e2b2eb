"""Staff views of messaging: Meta payloads and events, deliveries with their attempts, statuses,
windows, templates and alerts; sent messages with their callbacks, inbound media, numbers'
quality (drops stand out) and quality events. Read-only, except a number's send-rate cap;
actions (replay, process again) call services.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from messaging.models import (
    ConversationWindow,
    Delivery,
    DeliveryAttempt,
    EndpointHealth,
    InboundMedia,
    Message,
    MessageStatus,
    MessageTemplate,
    NumberHealth,
    QualityEvent,
    StatusCallback,
    WabaAlert,
    WebhookEvent,
    WebhookPayload,
)
from messaging.services.deliveries import delivery_replay
from messaging.services.processing import webhook_events_requeue
from onboarding.errors import OnboardingError


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookPayload)
class WebhookPayloadAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "source", "path_waba_id", "event_count", "parse_error")
    list_filter = ("source",)
    search_fields = ("path_waba_id",)
    readonly_fields = (
        "received_at",
        "source",
        "path_waba_id",
        "event_count",
        "parse_error",
        "body_text",
    )
    exclude = ("body",)

    @admin.display(description="body")
    def body_text(self, obj: WebhookPayload) -> str:
        return bytes(obj.body).decode("utf-8", "replace")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "event_id",
        "event_type",
        "state",
        "named_waba_id",
        "phone_number_id",
        "tech_provider",
        "occurred_at",
        "created_at",
    )
    list_filter = ("state", "event_type", "field")
    search_fields = (
        "event_id",
        "dedupe_key",
        "named_waba_id",
        "phone_number_id",
        "entry_id",
        "path_waba_id",
    )
    list_select_related = ("tech_provider",)
    actions = ["process_again"]

    @admin.action(description="Process again (route and forward)")
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = webhook_events_requeue(event_ids=list(queryset.values_list("id", flat=True)))
        messages.success(request, f"{count} events queued for processing.")


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "outcome", "status_code", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "webhook_id",
        "tech_provider",
        "event_type",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("webhook_id", "tech_provider__name", "tech_provider__auth_id")
    list_select_related = ("tech_provider",)
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.action(description="Replay (same webhook-id, fresh signature)")
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done, refused = 0, []
        for delivery in queryset.select_related("tech_provider"):
            try:
                delivery_replay(delivery=delivery)
                done += 1
            except OnboardingError as error:
                refused.append(f"{delivery.webhook_id}: {error.message}")
        messages.success(request, f"{done} deliveries queued again.")
        for line in refused:
            messages.warning(request, line)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("delivery", "number", "started_at", "outcome", "status_code", "duration_ms")
    list_filter = ("outcome",)
    search_fields = ("delivery__webhook_id", "url", "error")
    list_select_related = ("delivery",)


@admin.register(EndpointHealth)
class EndpointHealthAdmin(ReadOnlyAdmin):
    list_display = (
        "tech_provider",
        "failing_since",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
    )
    search_fields = ("tech_provider__name", "tech_provider__auth_id")


@admin.register(MessageStatus)
class MessageStatusAdmin(ReadOnlyAdmin):
    list_display = ("wamid", "status", "status_at", "phone_number_id", "recipient_id", "error_code")
    list_filter = ("status",)
    search_fields = ("wamid", "recipient_id", "biz_opaque_callback_data")


@admin.register(ConversationWindow)
class ConversationWindowAdmin(ReadOnlyAdmin):
    list_display = ("phone_number_id", "wa_id", "last_inbound_at", "expires_at")
    search_fields = ("phone_number_id", "wa_id")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "language",
        "waba",
        "category",
        "status",
        "quality_score",
        "status_updated_at",
    )
    list_filter = ("status", "category", "quality_score")
    search_fields = ("name", "template_id", "waba__waba_id")


@admin.register(WabaAlert)
class WabaAlertAdmin(ReadOnlyAdmin):
    list_display = ("kind", "waba", "occurred_at", "handled_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("waba__waba_id", "kind")


# ---------------------------------------------------------------- messages (issue 7)

_DROP_STYLE = "color:#b00020;font-weight:bold"
_QUALITY_COLOURS = {"GREEN": "#1b7f3b", "YELLOW": "#b8860b", "RED": "#b00020"}


class CallbackInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StatusCallback
    extra = 0
    can_delete = False
    fields = ("sequence", "status", "state", "attempts", "last_status_code", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "uuid",
        "tech_provider",
        "src",
        "dst",
        "kind",
        "state",
        "error_code",
        "fallback_used",
        "attempts",
        "created_at",
    )
    list_filter = ("state", "kind", "fallback_used")
    search_fields = ("uuid", "wamid", "dst", "src", "tech_provider__auth_id")
    list_select_related = ("tech_provider",)
    inlines = [CallbackInline]


@admin.register(StatusCallback)
class StatusCallbackAdmin(ReadOnlyAdmin):
    list_display = ("message", "sequence", "status", "state", "attempts", "last_status_code")
    list_filter = ("state", "status")
    search_fields = ("message__uuid", "url")
    list_select_related = ("message",)


@admin.register(InboundMedia)
class InboundMediaAdmin(ReadOnlyAdmin):
    list_display = ("media_id", "kind", "mime_type", "state", "file_size", "waba", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("media_id", "wamid", "waba__waba_id")


@admin.register(QualityEvent)
class QualityEventAdmin(ReadOnlyAdmin):
    """Drops first and in red: quality down, a lower limit, a template paused or disabled."""

    list_display = (
        "created_at",
        "kind",
        "subject",
        "previous",
        "current",
        "drop",
        "source",
        "waba",
    )
    list_filter = ("is_drop", "kind", "source")
    search_fields = ("phone_number_id", "waba__waba_id", "template__name")
    list_select_related = ("waba", "template")
    ordering = ("-is_drop", "-created_at")

    @admin.display(description="number or template")
    def subject(self, obj: QualityEvent) -> str:
        return obj.phone_number_id or (obj.template.name if obj.template else "")

    @admin.display(description="drop", ordering="is_drop")
    def drop(self, obj: QualityEvent) -> str:
        return format_html('<span style="{}">DROP</span>', _DROP_STYLE) if obj.is_drop else "-"


@admin.register(NumberHealth)
class NumberHealthAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Each sending number's quality, limit and throughput; staff may cap its send rate."""

    list_display = (
        "number",
        "quality",
        "limit",
        "throughput",
        "mps_override",
        "dropped_at",
        "refreshed_at",
    )
    list_editable = ("mps_override",)
    list_select_related = ("number",)
    search_fields = ("number__phone_number_id", "number__display_phone_number")
    readonly_fields = ("number", "refreshed_at", "refresh_error", "dropped_at")
    ordering = ("-dropped_at", "number_id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="quality", ordering="number__quality_rating")
    def quality(self, obj: NumberHealth) -> str:
        rating = obj.number.quality_rating or "-"
        colour = _QUALITY_COLOURS.get(rating.upper(), "inherit")
        return format_html('<span style="color:{};font-weight:bold">{}</span>', colour, rating)

    @admin.display(description="messaging limit")
    def limit(self, obj: NumberHealth) -> str:
        return obj.number.messaging_limit_tier or "-"

    @admin.display(description="throughput")
    def throughput(self, obj: NumberHealth) -> str:
        return obj.number.throughput_level or "-"
