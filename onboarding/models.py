"""Onboarding data: Tech Providers, WABAs, phone numbers, onboardings, their steps and audit rows.

Data, constraints and tiny derived properties only; every write goes through services.
"""

from django.db import models
from django.db.models import JSONField, Q, Value

from onboarding.fields import EncryptedTextField

AUTH_ID_REGEX = r"^MA[A-Z0-9]{18}$"
META_ID_REGEX = r"^[0-9]{1,32}$"


class Currency(models.TextChoices):
    """Currencies Meta accepts when a credit line is shared (meta-platform.md section 5)."""

    AUD = "AUD"
    EUR = "EUR"
    GBP = "GBP"
    IDR = "IDR"
    INR = "INR"
    USD = "USD"


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TechProvider(BaseModel):
    """An ISV reselling WhatsApp through us; authenticates with auth_id / auth_token."""

    class MpsStatus(models.TextChoices):
        ACTIVE = "active"
        PENDING = "pending"
        INACTIVE = "inactive"

    name = models.CharField(max_length=200)
    auth_id = models.CharField(max_length=20, unique=True)
    auth_token_hash = models.CharField(max_length=64)  # SHA-256 hex of the 40-char token
    auth_token_rotated_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    whatsapp_enabled = models.BooleanField(default=True)
    tech_provider_permission = models.BooleanField(default=True)
    mps_status = models.CharField(
        max_length=16, choices=MpsStatus.choices, default=MpsStatus.ACTIVE
    )
    # The Tech Provider's own Meta app, used by its hosted Connect page.
    meta_app_id = models.CharField(max_length=32, blank=True)
    meta_config_id = models.CharField(max_length=32, blank=True)
    meta_app_secret = EncryptedTextField(blank=True)
    session_info_version = models.CharField(max_length=8, default="2")
    es_feature_type = models.CharField(max_length=64, blank=True)
    es_version = models.CharField(max_length=8, default="v3")
    public_id = models.CharField(max_length=32, unique=True)
    default_currency = models.CharField(
        max_length=3, choices=Currency.choices, default=Currency.USD
    )
    webhook_url = models.URLField(max_length=2000, blank=True)
    webhook_secret = EncryptedTextField(blank=True)  # "whsec_" + base64, Standard Webhooks
    webhook_secret_previous = EncryptedTextField(blank=True)
    webhook_secret_previous_expires_at = models.DateTimeField(null=True, blank=True)
    webhook_disabled_at = models.DateTimeField(null=True, blank=True)
    webhook_disabled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(auth_id__regex=AUTH_ID_REGEX), name="techprovider_auth_id_shape"
            ),
            models.CheckConstraint(
                condition=Q(mps_status__in=["active", "pending", "inactive"]),
                name="techprovider_mps_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.auth_id})"


class WhatsAppBusinessAccount(BaseModel):
    """A customer's WABA onboarded through a Tech Provider."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding"
        ACTIVE = "active"
        FAILED = "failed"
        OFFBOARDED = "offboarded"

    class SignupEvent(models.TextChoices):
        FINISH = "FINISH"
        FINISH_ONLY_WABA = "FINISH_ONLY_WABA"
        FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"

    tech_provider = models.ForeignKey(TechProvider, on_delete=models.PROTECT, related_name="wabas")
    waba_id = models.CharField(max_length=32, unique=True)
    business_id = models.CharField(max_length=32)
    reference = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ONBOARDING)
    signup_event = models.CharField(
        max_length=48, choices=SignupEvent.choices, default=SignupEvent.FINISH
    )
    # The customer's business token from the hosted signup; empty when the TP called the API.
    business_token = EncryptedTextField(blank=True)
    business_token_expires_at = models.DateTimeField(null=True, blank=True)
    webhook_verify_token = EncryptedTextField(blank=True)  # per-WABA override handshake token
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    allocation_config_id = models.CharField(max_length=32, blank=True)
    webhooks_subscribed_at = models.DateTimeField(null=True, blank=True)  # our app subscribed
    activated_at = models.DateTimeField(null=True, blank=True)
    offboarded_at = models.DateTimeField(null=True, blank=True)
    offboard_reason = models.TextField(blank=True)
    # Reconciliation (onboarding.services.reconciliation): what Meta's side last showed that is
    # not as onboarding left it, by check name ({"subscription": "...", ...}; empty: no drift).
    drift = models.JSONField(default=dict, db_default=Value({}, JSONField()), blank=True)
    drift_since = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "WhatsApp Business Account"
        constraints = [
            models.CheckConstraint(
                condition=Q(waba_id__regex=META_ID_REGEX), name="waba_waba_id_numeric"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["onboarding", "active", "failed", "offboarded"]),
                name="waba_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["tech_provider", "-created_at"])]

    def __str__(self) -> str:
        return self.waba_id


class PhoneNumber(BaseModel):
    """A WhatsApp phone number of a WABA, with what Meta last told us about it."""

    class Registration(models.TextChoices):
        PENDING = "pending"
        REGISTERED = "registered"
        SKIPPED = "skipped"
        FAILED = "failed"
        DEREGISTERED = "deregistered"

    waba = models.ForeignKey(
        WhatsAppBusinessAccount, on_delete=models.PROTECT, related_name="phone_numbers"
    )
    phone_number_id = models.CharField(max_length=32, unique=True)
    registration = models.CharField(
        max_length=16, choices=Registration.choices, default=Registration.PENDING
    )
    is_coexistence = models.BooleanField(default=False)
    pin = EncryptedTextField(blank=True)  # two-step PIN, generated once, reused on every retry
    display_phone_number = models.CharField(max_length=32, blank=True)
    verified_name = models.CharField(max_length=200, blank=True)
    meta_status = models.CharField(max_length=32, blank=True)
    quality_rating = models.CharField(max_length=16, blank=True)
    code_verification_status = models.CharField(max_length=32, blank=True)
    name_status = models.CharField(max_length=32, blank=True)
    throughput_level = models.CharField(max_length=32, blank=True)
    messaging_limit_tier = models.CharField(max_length=32, blank=True)
    details_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(phone_number_id__regex=META_ID_REGEX),
                name="phone_number_id_numeric",
            ),
        ]

    def __str__(self) -> str:
        return self.display_phone_number or self.phone_number_id


class RegistrationCall(models.Model):
    """One register or deregister call made to Meta: Meta allows 10 per number per 72 hours."""

    class Action(models.TextChoices):
        REGISTER = "register"
        DEREGISTER = "deregister"

    phone_number = models.ForeignKey(
        PhoneNumber, on_delete=models.CASCADE, related_name="registration_calls"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    succeeded = models.BooleanField(null=True)
    error_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["phone_number", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.phone_number_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Onboarding(BaseModel):
    """The pipeline that finishes one WABA's signup on Meta's Graph API (one per WABA)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        ACTIVE = "active"
        FAILED = "failed"

    waba = models.OneToOneField(
        WhatsAppBusinessAccount, on_delete=models.PROTECT, related_name="onboarding"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "waiting", "active", "failed"]),
                name="onboarding_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"onboarding of {self.waba_id} ({self.status})"


# The onboarding's state machine: each status and the statuses that may follow it. Only
# onboarding.services.transitions moves an onboarding, and it checks this table.
ONBOARDING_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "failed"}),
    "running": frozenset({"waiting", "active", "failed"}),
    "waiting": frozenset({"running", "failed"}),
    "failed": frozenset({"pending"}),  # Retry
    "active": frozenset(),
}


class OnboardingStep(BaseModel):
    """One step of an onboarding; its state lives here, never in the broker."""

    class Name(models.TextChoices):
        SUBSCRIBE_WEBHOOKS = "subscribe_webhooks"
        SHARE_CREDIT_LINE = "share_credit_line"
        REGISTER_PHONE_NUMBER = "register_phone_number"
        FETCH_PHONE_NUMBER = "fetch_phone_number"
        ACTIVATE = "activate"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    onboarding = models.ForeignKey(Onboarding, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=32, choices=Name.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.IntegerField(null=True, blank=True)
    last_error_subcode = models.IntegerField(null=True, blank=True)
    last_error_message = models.TextField(blank=True)
    last_fbtrace_id = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)  # why it was skipped, or what a person must do
    result = models.JSONField(default=dict, blank=True)  # ids Meta returned, never secrets
    # Set while an attempt is in flight and kept when it ended without an answer (timeout,
    # dropped connection, killed worker): the effect may exist at Meta, so look before acting.
    outcome_unknown = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["onboarding_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["onboarding", "name"], name="step_unique_per_onboarding"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["pending", "running", "waiting", "succeeded", "failed", "skipped"]
                ),
                name="step_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


# Each step status and the statuses that may follow it (running -> running: a new worker takes
# over a step whose lease expired). Only onboarding.services.transitions moves a step.
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "skipped"}),
    "running": frozenset({"running", "succeeded", "waiting", "failed", "skipped"}),
    "waiting": frozenset({"running", "failed"}),
    "failed": frozenset({"pending"}),  # Retry
    "succeeded": frozenset(),
    "skipped": frozenset(),
}


class OnboardingEvent(models.Model):
    """Audit row: one per transition of an onboarding or one of its steps."""

    onboarding = models.ForeignKey(Onboarding, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(max_length=32, blank=True)  # empty for the onboarding itself
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)  # Meta ids, error code, fbtrace_id
    actor = models.CharField(max_length=64, default="system")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.step or 'onboarding'}: {self.from_status or '-'} -> {self.to_status}"


class TechProviderEvent(models.Model):
    """Something a Tech Provider is told about (e.g. `waba.active`), recorded for delivery.

    Written by onboarding.services.notifications; messaging delivers it as a signed webhook and
    sets `dispatched_at` once it has queued the delivery.
    """

    event_id = models.CharField(max_length=40, unique=True)  # the webhook-id the TP sees
    tech_provider = models.ForeignKey(TechProvider, on_delete=models.CASCADE, related_name="events")
    waba = models.ForeignKey(
        WhatsAppBusinessAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tech_provider_events",
    )
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)  # never secrets
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], condition=Q(dispatched_at__isnull=True), name="tpevent_undispatched"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class IdempotencyKey(models.Model):
    """A Tech Provider's Idempotency-Key and the first response it got (kept 24 hours)."""

    tech_provider = models.ForeignKey(TechProvider, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    # Both empty while the first request is in flight; a second request then gets 409.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tech_provider", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key


class SignupSession(BaseModel):
    """One opening of a Tech Provider's hosted Connect page, and what became of it.

    The page carries a one-time nonce (stored hashed) that binds its POST to this Tech Provider;
    after a success the browser polls the onboarding with a separate status token (also hashed).
    These rows are the signup funnel: opened, finished, cancelled at a step, errored, rejected.
    """

    class Status(models.TextChoices):
        OPENED = "opened"
        FINISHED = "finished"  # the dialog finished and the onboarding was accepted
        CANCELLED = "cancelled"  # the customer closed the dialog before the end
        ERRORED = "errored"  # the customer reported a problem, or Meta sent ERROR
        REJECTED = "rejected"  # the dialog finished but our checks refused it

    tech_provider = models.ForeignKey(
        TechProvider, on_delete=models.CASCADE, related_name="signup_sessions"
    )
    nonce_hash = models.CharField(max_length=64, unique=True)
    status_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    reference = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPENED)
    event = models.CharField(max_length=64, blank=True)  # FINISH, CANCEL, ERROR, ...
    current_step = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    meta_session_id = models.CharField(max_length=64, blank=True)
    rejection_reason = models.TextField(blank=True)
    waba = models.ForeignKey(
        WhatsAppBusinessAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signup_sessions",
    )
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tech_provider", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["opened", "finished", "cancelled", "errored", "rejected"]),
                name="signupsession_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"signup {self.pk} of {self.tech_provider_id} ({self.status})"
