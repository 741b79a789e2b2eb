"""Staff views of onboarding: accounts, WABAs with numbers and steps, onboardings and audit rows.

State is read-only here; every change goes through a service (create, rotate the token).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from onboarding import funnel, selectors
from onboarding.errors import OnboardingError
from onboarding.models import (
    Onboarding,
    OnboardingEvent,
    OnboardingStep,
    PhoneNumber,
    SignupSession,
    TechProvider,
    WhatsAppBusinessAccount,
)
from onboarding.services.offboarding import waba_offboard
from onboarding.services.pipeline import onboarding_retry
from onboarding.services.reconciliation import waba_reconcile
from onboarding.services.tech_providers import (
    IssuedCredentials,
    tech_provider_create,
    tech_provider_rotate_token,
)


class TechProviderForm(forms.ModelForm[TechProvider]):
    meta_app_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored secret.",
    )

    class Meta:
        model = TechProvider
        fields = [
            "name",
            "is_active",
            "whatsapp_enabled",
            "tech_provider_permission",
            "mps_status",
            "meta_app_id",
            "meta_config_id",
            "meta_app_secret",
            "session_info_version",
            "es_feature_type",
            "es_version",
            "default_currency",
            "webhook_url",
        ]

    def clean_meta_app_secret(self) -> str:
        secret = self.cleaned_data.get("meta_app_secret") or ""
        return secret or (self.instance.meta_app_secret if self.instance.pk else "")


def _credentials_page(request: HttpRequest, issued: IssuedCredentials) -> HttpResponse:
    response = TemplateResponse(
        request,
        "admin/onboarding/credentials.html",
        {"issued": issued, "tp": issued.tech_provider, "title": "API credentials"},
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(TechProvider)
class TechProviderAdmin(admin.ModelAdmin[TechProvider]):
    form = TechProviderForm
    list_display = [
        "name",
        "auth_id",
        "is_active",
        "whatsapp_enabled",
        "tech_provider_permission",
        "mps_status",
        "created_at",
    ]
    list_filter = ["is_active", "whatsapp_enabled", "tech_provider_permission", "mps_status"]
    search_fields = ["name", "auth_id", "public_id"]
    readonly_fields = [
        "auth_id",
        "public_id",
        "auth_token_rotated_at",
        "created_at",
        "signup_funnel",
    ]
    actions = ["rotate_auth_token"]

    @admin.display(description="Signup funnel (hosted Connect page)")
    def signup_funnel(self, tech_provider: TechProvider) -> SafeString:
        if tech_provider.pk is None:
            return format_html("{}", "-")
        return funnel.render(selectors.signup_funnel(tech_provider=tech_provider))

    def save_model(self, request: HttpRequest, obj: TechProvider, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        issued = tech_provider_create(
            name=data["name"],
            whatsapp_enabled=data["whatsapp_enabled"],
            tech_provider_permission=data["tech_provider_permission"],
            mps_status=data["mps_status"],
            meta_app_id=data["meta_app_id"],
            meta_config_id=data["meta_config_id"],
            meta_app_secret=data["meta_app_secret"],
            webhook_url=data["webhook_url"],
        )
        obj.pk = issued.tech_provider.pk
        obj.refresh_from_db()
        request._issued_credentials = issued  # type: ignore[attr-defined]  # shown once, below

    def response_add(self, request: HttpRequest, obj: TechProvider, *args: Any) -> HttpResponse:
        issued = getattr(request, "_issued_credentials", None)
        if issued is None:
            return super().response_add(request, obj, *args)
        return _credentials_page(request, issued)

    @admin.action(description="Rotate the auth token (shows the new one once)")
    def rotate_auth_token(
        self, request: HttpRequest, queryset: QuerySet[TechProvider]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one Tech Provider.", messages.ERROR)
            return None
        issued = tech_provider_rotate_token(tech_provider=queryset.get())
        return _credentials_page(request, issued)


def _staff(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


def _retry_onboardings(
    admin_: admin.ModelAdmin[Any], request: HttpRequest, onboardings: list[Onboarding]
) -> None:
    retried = 0
    for onboarding in onboardings:
        try:
            onboarding_retry(onboarding=onboarding, actor=_staff(request))
        except OnboardingError as error:
            admin_.message_user(request, f"{onboarding.waba}: {error.message}", messages.WARNING)
        else:
            retried += 1
    if retried:
        admin_.message_user(request, f"Retrying {retried} onboarding(s) from the failed step.")


class PhoneNumberInline(admin.TabularInline[PhoneNumber, WhatsAppBusinessAccount]):
    model = PhoneNumber
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "registration",
        "is_coexistence",
        "meta_status",
        "quality_rating",
        "throughput_level",
        "messaging_limit_tier",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _steps_table(onboarding: Onboarding) -> SafeString:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                s.position,
                s.name,
                s.status,
                s.attempts,
                s.last_error_code or "",
                s.note or s.last_error_message,
            )
            for s in selectors.onboarding_steps(onboarding)
        ),
    )
    return format_html(
        "<table><tr><th>#</th><th>step</th><th>status</th><th>attempts</th><th>Meta code</th>"
        "<th>note / last error</th></tr>{}</table>",
        rows,
    )


class DriftFilter(admin.SimpleListFilter):
    title = "drift"
    parameter_name = "drift"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Drifted"), ("no", "In line")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WhatsAppBusinessAccount]
    ) -> QuerySet[WhatsAppBusinessAccount]:
        if self.value() == "yes":
            return queryset.exclude(drift={})
        if self.value() == "no":
            return queryset.filter(drift={})
        return queryset


@admin.register(WhatsAppBusinessAccount)
class WhatsAppBusinessAccountAdmin(admin.ModelAdmin[WhatsAppBusinessAccount]):
    list_display = [
        "waba_id",
        "tech_provider",
        "status",
        "drifted",
        "reference",
        "signup_event",
        "created_at",
    ]
    list_filter = ["status", DriftFilter, "signup_event", "tech_provider"]
    search_fields = [
        "waba_id",
        "business_id",
        "reference",
        "phone_numbers__phone_number_id",
        "phone_numbers__display_phone_number",
        "tech_provider__auth_id",
    ]
    list_select_related = ["tech_provider"]
    inlines = [PhoneNumberInline]
    fields = readonly_fields = (
        "waba_id",
        "tech_provider",
        "business_id",
        "reference",
        "status",
        "signup_event",
        "currency",
        "allocation_config_id",
        "business_token_expires_at",
        "activated_at",
        "offboarded_at",
        "drift_found",
        "drift_since",
        "reconciled_at",
        "onboarding_steps",
    )

    actions = ["retry_onboarding", "offboard", "reconcile"]

    @admin.display(description="drift", boolean=True)
    def drifted(self, waba: WhatsAppBusinessAccount) -> bool:
        return bool(waba.drift)

    @admin.display(description="Drift found at Meta")
    def drift_found(self, waba: WhatsAppBusinessAccount) -> SafeString:
        if not waba.drift:
            return format_html("{}", "none")
        items = format_html_join("", "<li><b>{}</b>: {}</li>", sorted(waba.drift.items()))
        return format_html("<ul>{}</ul>", items)

    @admin.action(description="Check at Meta now (reconcile)")
    def reconcile(self, request: HttpRequest, queryset: QuerySet[WhatsAppBusinessAccount]) -> None:
        for waba in queryset:
            waba = waba_reconcile(waba_pk=waba.pk)
            found = ", ".join(sorted(waba.drift)) or "no drift"
            self.message_user(request, f"{waba.waba_id}: {found}.")

    @admin.action(description="Retry the onboarding from its failed step")
    def retry_onboarding(
        self, request: HttpRequest, queryset: QuerySet[WhatsAppBusinessAccount]
    ) -> None:
        onboardings = list(Onboarding.objects.filter(waba__in=queryset).select_related("waba"))
        _retry_onboardings(self, request, onboardings)

    @admin.action(description="Offboard (revoke credit, unsubscribe, mark offboarded)")
    def offboard(
        self, request: HttpRequest, queryset: QuerySet[WhatsAppBusinessAccount]
    ) -> HttpResponse | None:
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            wabas = list(queryset.select_related("tech_provider"))
            return TemplateResponse(
                request,
                "admin/onboarding/offboard_confirm.html",
                {"wabas": wabas, "title": "Offboard WABAs"},
            )
        for waba in queryset:
            waba = waba_offboard(waba=waba, reason=reason, actor=_staff(request))
            self.message_user(request, f"{waba.waba_id} is offboarded.")
        return None

    @admin.display(description="Onboarding steps")
    def onboarding_steps(self, waba: WhatsAppBusinessAccount) -> SafeString:
        onboarding = Onboarding.objects.filter(waba=waba).first()
        return _steps_table(onboarding) if onboarding else format_html("{}", "none")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class OnboardingStepInline(admin.TabularInline[OnboardingStep, Onboarding]):
    model = OnboardingStep
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "position",
        "name",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error_code",
        "last_error_subcode",
        "last_error_message",
        "last_fbtrace_id",
        "note",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OnboardingEventInline(admin.TabularInline[OnboardingEvent, Onboarding]):
    model = OnboardingEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "created_at",
        "step",
        "from_status",
        "to_status",
        "reason",
        "detail",
        "actor",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Onboarding)
class OnboardingAdmin(admin.ModelAdmin[Onboarding]):
    list_display = ["waba", "status", "failure_reason", "created_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["waba__waba_id", "waba__reference", "waba__tech_provider__auth_id"]
    list_select_related = ["waba"]
    readonly_fields = ["waba", "status", "failure_reason", "completed_at", "created_at"]
    inlines = [OnboardingStepInline, OnboardingEventInline]
    actions = ["retry_from_failed_step"]

    @admin.action(description="Retry from the failed step")
    def retry_from_failed_step(self, request: HttpRequest, queryset: QuerySet[Onboarding]) -> None:
        _retry_onboardings(self, request, list(queryset.select_related("waba")))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SignupSession)
class SignupSessionAdmin(admin.ModelAdmin[SignupSession]):
    list_display = [
        "created_at",
        "tech_provider",
        "status",
        "event",
        "current_step",
        "waba",
        "reference",
    ]
    list_filter = ["status", "event", "current_step", "tech_provider"]
    search_fields = ["reference", "waba__waba_id", "tech_provider__auth_id", "meta_session_id"]
    list_select_related = ["tech_provider", "waba"]
    fields = readonly_fields = (
        "tech_provider",
        "status",
        "event",
        "current_step",
        "error_message",
        "error_code",
        "meta_session_id",
        "rejection_reason",
        "waba",
        "reference",
        "created_at",
        "submitted_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
