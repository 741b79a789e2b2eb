"""The simulated Meta's state: apps, businesses, WABAs, numbers, tokens, faults, calls, webhooks.

Data, constraints and tiny derived properties only; every write goes through sandbox services.
Secrets the simulator issues (business tokens, auth codes, two-step PINs) are kept as SHA-256
hashes only. App secrets are kept in clear because the simulator must sign webhooks with them;
they belong to simulated apps whose credentials are public development values.
"""

from django.db import models
from django.db.models import Q


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class SandboxBusiness(BaseModel):
    """A business portfolio: a customer's, or a partner's that owns apps and credit lines."""

    business_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    is_partner = models.BooleanField(default=False)

    class Meta:
        verbose_name = "business"
        verbose_name_plural = "businesses"

    def __str__(self) -> str:
        return f"{self.name} ({self.business_id})"


class SandboxApp(BaseModel):
    """A Meta app of a partner; webhooks for its subscribed WABAs are signed with its secret."""

    app_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    secret = models.CharField(max_length=128)  # public dev value, needed in clear to sign webhooks
    business = models.ForeignKey(SandboxBusiness, on_delete=models.PROTECT, related_name="apps")
    # Blank: SANDBOX_WEBHOOK_BASE_URL + "/webhooks/meta/" at send time (the app dashboard URL).
    callback_url = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "app"

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"


class SandboxCreditLine(BaseModel):
    """A partner's extended credit line, shared with customer WABAs."""

    credit_line_id = models.CharField(max_length=32, unique=True)
    business = models.ForeignKey(
        SandboxBusiness, on_delete=models.PROTECT, related_name="credit_lines"
    )
    legal_entity_name = models.CharField(max_length=200)

    class Meta:
        verbose_name = "credit line"

    def __str__(self) -> str:
        return self.credit_line_id


class SandboxWaba(BaseModel):
    """A customer's WhatsApp Business Account."""

    waba_id = models.CharField(max_length=32, unique=True)
    business = models.ForeignKey(SandboxBusiness, on_delete=models.PROTECT, related_name="wabas")
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    timezone_id = models.CharField(max_length=8, default="1")
    message_template_namespace = models.CharField(max_length=64)
    account_review_status = models.CharField(max_length=16, default="APPROVED")
    primary_funding_id = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "WABA"

    def __str__(self) -> str:
        return f"{self.name} ({self.waba_id})"


class SandboxWabaShare(BaseModel):
    """A WABA shared with a partner app through Embedded Signup (removed: PARTNER_REMOVED)."""

    waba = models.ForeignKey(SandboxWaba, on_delete=models.CASCADE, related_name="shares")
    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE, related_name="shares")

    class Meta:
        verbose_name = "WABA share"
        constraints = [
            models.UniqueConstraint(fields=["waba", "app"], name="sandbox_share_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.waba_id} shared with {self.app_id}"


class SandboxSubscription(BaseModel):
    """An app subscribed to a WABA's webhooks, optionally with a WABA-level override URL."""

    waba = models.ForeignKey(SandboxWaba, on_delete=models.CASCADE, related_name="subscriptions")
    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE, related_name="subscriptions")
    override_callback_uri = models.CharField(max_length=200, blank=True)
    verify_token = models.CharField(max_length=500, blank=True)  # the platform's, as Meta keeps it

    class Meta:
        verbose_name = "subscribed app"
        constraints = [
            models.UniqueConstraint(fields=["waba", "app"], name="sandbox_subscription_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.app_id} -> {self.waba_id}"


class SandboxPhoneNumber(BaseModel):
    """A business phone number with what Meta reports about it and its registration state."""

    phone_number_id = models.CharField(max_length=32, unique=True)
    waba = models.ForeignKey(SandboxWaba, on_delete=models.CASCADE, related_name="phone_numbers")
    display_phone_number = models.CharField(max_length=32)
    verified_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, default="PENDING")
    quality_rating = models.CharField(max_length=16, default="GREEN")
    code_verification_status = models.CharField(max_length=32, default="VERIFIED")
    name_status = models.CharField(max_length=32, default="APPROVED")
    throughput_level = models.CharField(max_length=32, default="STANDARD")
    throughput_mps = models.PositiveIntegerField(default=80)
    messaging_limit_tier = models.CharField(max_length=32, default="TIER_250")
    platform_type = models.CharField(max_length=16, default="NOT_APPLICABLE")
    is_coexistence = models.BooleanField(default=False)
    is_registered = models.BooleanField(default=False)
    pin_hash = models.CharField(max_length=64, blank=True)  # two-step verification PIN
    data_localization_region = models.CharField(max_length=2, blank=True)
    # 0: normal. Otherwise every register call fails with this Meta code (a magic number).
    register_error_code = models.PositiveIntegerField(default=0)
    override_callback_uri = models.CharField(max_length=200, blank=True)
    override_verify_token = models.CharField(max_length=500, blank=True)
    last_onboarded_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "phone number"

    def __str__(self) -> str:
        return f"+{self.display_phone_number} ({self.phone_number_id})"


class SandboxRegistrationCall(models.Model):
    """A register or deregister request Meta counted (10 per number per 72 hours)."""

    phone_number = models.ForeignKey(
        SandboxPhoneNumber, on_delete=models.CASCADE, related_name="registration_calls"
    )
    action = models.CharField(max_length=16)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "register/deregister call"

    def __str__(self) -> str:
        return f"{self.action} {self.phone_number_id}"


class SandboxAuthCode(BaseModel):
    """An exchangeable code issued by the signup dialog: 30 seconds, single use."""

    code_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE, related_name="codes")
    business = models.ForeignKey(SandboxBusiness, on_delete=models.CASCADE)
    waba_ids = models.JSONField(default=list)
    phone_number_id = models.CharField(max_length=32, blank=True)
    event = models.CharField(max_length=48)
    config_id = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "auth code"

    def __str__(self) -> str:
        return f"code …{self.hint}"


class SandboxToken(BaseModel):
    """An access token the simulator issued: a customer's business token or a system user's."""

    class Kind(models.TextChoices):
        BUSINESS = "BUSINESS", "business integration system user"
        SYSTEM_USER = "SYSTEM_USER", "partner system user"

    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE, related_name="tokens")
    business = models.ForeignKey(SandboxBusiness, on_delete=models.CASCADE)
    user_id = models.CharField(max_length=32)
    target_waba_ids = models.JSONField(default=list)  # newest first; empty for system users
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)  # null: never expires
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "access token"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["BUSINESS", "SYSTEM_USER"]), name="sandbox_token_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} token …{self.hint}"


class SandboxCreditAllocation(BaseModel):
    """A credit line shared with a customer business and attached to one of its WABAs."""

    allocation_config_id = models.CharField(max_length=32, unique=True)
    credit_line = models.ForeignKey(SandboxCreditLine, on_delete=models.CASCADE)
    waba = models.ForeignKey(SandboxWaba, on_delete=models.CASCADE, related_name="allocations")
    receiving_business = models.ForeignKey(SandboxBusiness, on_delete=models.CASCADE)
    receiving_credential_id = models.CharField(max_length=32)
    currency = models.CharField(max_length=3)
    request_status = models.CharField(max_length=16, default="APPROVED")
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "credit allocation"

    def __str__(self) -> str:
        return f"{self.allocation_config_id} ({self.request_status})"


class SandboxTemplate(BaseModel):
    """A message template; PENDING until its review is due, then APPROVED or REJECTED."""

    template_id = models.CharField(max_length=32, unique=True)
    waba = models.ForeignKey(SandboxWaba, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=16)
    components = models.JSONField(default=list)
    parameter_format = models.CharField(max_length=16, default="POSITIONAL")
    status = models.CharField(max_length=24, default="PENDING")
    rejected_reason = models.CharField(max_length=32, default="NONE")
    quality_score = models.CharField(max_length=16, default="UNKNOWN")
    review_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    review_outcome = models.CharField(max_length=16, default="APPROVED")

    class Meta:
        verbose_name = "message template"
        constraints = [
            models.UniqueConstraint(
                fields=["waba", "name", "language"],
                condition=~Q(status="DELETED"),
                name="sandbox_template_unique_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.language}] {self.status}"


class SandboxWindow(models.Model):
    """The 24-hour customer service window of one customer with one business number."""

    phone_number = models.ForeignKey(SandboxPhoneNumber, on_delete=models.CASCADE)
    wa_id = models.CharField(max_length=32)
    last_inbound_at = models.DateTimeField()

    class Meta:
        verbose_name = "customer service window"
        constraints = [
            models.UniqueConstraint(fields=["phone_number", "wa_id"], name="sandbox_window_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.wa_id} via {self.phone_number_id}"


class SandboxMessage(BaseModel):
    """A message the business sent (outbound) or a customer sent (inbound, injected)."""

    wamid = models.CharField(max_length=128, unique=True)
    phone_number = models.ForeignKey(
        SandboxPhoneNumber, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=8)  # "out" or "in"
    wa_id = models.CharField(max_length=32)
    type = models.CharField(max_length=24)
    payload = models.JSONField(default=dict)
    biz_opaque_callback_data = models.CharField(max_length=512, blank=True)
    pricing_category = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    api_version = models.CharField(max_length=8, blank=True)

    class Meta:
        verbose_name = "message"

    def __str__(self) -> str:
        return self.wamid


class SandboxMedia(BaseModel):
    """Media uploaded by the business or sent by a customer; downloaded with a token."""

    media_id = models.CharField(max_length=32, unique=True)
    phone_number = models.ForeignKey(SandboxPhoneNumber, on_delete=models.CASCADE)
    mime_type = models.CharField(max_length=128)
    sha256 = models.CharField(max_length=64)
    file_size = models.PositiveIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    content = models.BinaryField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "media"
        verbose_name_plural = "media"

    def __str__(self) -> str:
        return f"{self.media_id} ({self.mime_type})"


class SandboxFault(BaseModel):
    """A failure to inject into the Graph simulator for matching calls."""

    class Kind(models.TextChoices):
        ERROR = "error", "answer with a Meta error"
        LATENCY = "latency", "add latency, then answer normally"
        TIMEOUT = "timeout", "hold the request past the client's timeout"
        DROP = "drop", "close the connection without an answer"

    endpoint = models.CharField(max_length=64, help_text='An endpoint name, or "*" for all.')
    object_id = models.CharField(max_length=32, blank=True, help_text="Only calls on this id.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ERROR)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_subcode = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # For timeout and drop: let the call take effect first (the answer is lost, not the request).
    with_effect = models.BooleanField(default=False)
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    applied = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "fault"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["error", "latency", "timeout", "drop"]),
                name="sandbox_fault_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="error") | Q(error_code__isnull=False),
                name="sandbox_fault_error_has_code",
            ),
        ]

    def __str__(self) -> str:
        what = f"{self.kind} {self.error_code}" if self.kind == "error" else self.kind
        return f"{what} on {self.endpoint}"


class SandboxCall(models.Model):
    """One request the Graph simulator received, with secrets masked."""

    received_at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=64, db_index=True)
    path = models.CharField(max_length=500)
    version = models.CharField(max_length=8, blank=True)
    object_id = models.CharField(max_length=32, blank=True, db_index=True)
    params = models.JSONField(default=dict)
    token_kind = models.CharField(max_length=16, blank=True)
    token_hint = models.CharField(max_length=8, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: dropped
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_subcode = models.PositiveIntegerField(null=True, blank=True)
    fbtrace_id = models.CharField(max_length=32)
    response = models.JSONField(null=True, blank=True)
    fault = models.CharField(max_length=120, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "Graph call"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status_code}"


class SandboxWebhook(BaseModel):
    """A webhook POST the simulator owes the platform (the outbox) and its delivery result."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"
        SKIPPED = "skipped"  # the app is not subscribed to the WABA: Meta sends nothing

    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE)
    url = models.CharField(max_length=500)
    target = models.CharField(max_length=16)  # "app", "waba" or "phone": which URL was chosen
    field = models.CharField(max_length=64)
    waba_id = models.CharField(max_length=32, blank=True)
    description = models.CharField(max_length=200, blank=True)
    body = models.TextField()  # the exact bytes signed and sent, as UTF-8
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    deliver_after = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook"
        ordering = ["deliver_after", "id"]
        indexes = [models.Index(fields=["status", "deliver_after"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.field} -> {self.url} ({self.status})"


class SandboxConfig(models.Model):
    """Runtime knobs of the simulator (one row), seeded from the SANDBOX_* settings."""

    template_review_delay_s = models.FloatField()
    template_default_outcome = models.CharField(
        max_length=16,
        choices=[("APPROVED", "APPROVED"), ("REJECTED", "REJECTED")],
        default="APPROVED",
    )
    reengagement_error = models.CharField(
        max_length=8,
        choices=[("webhook", "failed status webhook (as Cloud API)"), ("sync", "HTTP error")],
        default="webhook",
    )
    delivered_after_ms = models.PositiveIntegerField()
    read_after_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: never.")
    enforce_throughput = models.BooleanField(default=True)
    pair_rate_burst = models.PositiveIntegerField(default=45, help_text="Per recipient per 6 s.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "configuration"
        verbose_name_plural = "configuration"

    def __str__(self) -> str:
        return "sandbox configuration"
