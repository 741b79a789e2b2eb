"""Messaging data: Meta webhook payloads and events, Tech Provider deliveries and their attempts,
message statuses, 24-hour windows, templates and WABA alerts; the outbox of messages Tech
Providers send, their status callbacks, inbound media we store, and quality changes.

Data, constraints and tiny derived properties only; every write goes through messaging.services.
"""

import uuid

from django.db import models
from django.db.models import Q

from onboarding.models import BaseModel, PhoneNumber, TechProvider, WhatsAppBusinessAccount


class WebhookPayload(models.Model):
    """One signed POST from Meta, byte for byte, as it arrived (kept for audit and replay).

    It is the durable record of its events until a worker has derived them: `expanded_at` is
    empty until then, and `event_count` and `parse_error` are set when it is filled.
    """

    class Source(models.TextChoices):
        APP = "app"  # /webhooks/meta/
        WABA = "waba"  # a per-WABA override URL

    received_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    path_waba_id = models.CharField(max_length=32, blank=True)
    body = models.BinaryField()
    event_count = models.PositiveIntegerField(default=0)
    parse_error = models.CharField(max_length=200, blank=True)
    expanded_at = models.DateTimeField(null=True, blank=True)  # its events derived and stored

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], condition=Q(expanded_at__isnull=True), name="webhookpayload_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"payload {self.pk} ({self.event_count} events)"


class WebhookEvent(BaseModel):
    """One change (or one message / status inside a `messages` change) from Meta.

    `event_id` is derived from the content (see messaging.meta_events), so a retried or duplicated
    POST maps to the same row and the unique constraint drops it. It is also the `webhook-id` the
    Tech Provider sees.
    """

    class State(models.TextChoices):
        PENDING = "pending"  # stored, not processed yet
        PARKED = "parked"  # no WABA we know matches yet; routed once it exists
        PROCESSED = "processed"
        IGNORED = "ignored"  # could not be understood; kept, not forwarded
        EXPIRED = "expired"  # parked longer than WEBHOOK_PARKED_TTL_S

    event_id = models.CharField(max_length=40, unique=True)
    dedupe_key = models.TextField()
    payload = models.ForeignKey(
        WebhookPayload, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    entry_index = models.PositiveSmallIntegerField(default=0)
    change_index = models.PositiveSmallIntegerField(default=0)
    item_index = models.SmallIntegerField(default=-1)  # -1: the whole change
    field = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    entry_id = models.CharField(max_length=64, blank=True)
    named_waba_id = models.CharField(max_length=64, blank=True, db_index=True)  # body names it
    phone_number_id = models.CharField(max_length=64, blank=True)
    path_waba_id = models.CharField(max_length=32, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    tech_provider = models.ForeignKey(
        TechProvider, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    waba = models.ForeignKey(
        WhatsAppBusinessAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    value = models.JSONField(null=True, blank=True)  # Meta's change value, set when processed
    note = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "parked", "processed", "ignored", "expired"]),
                name="webhookevent_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(state="pending"), name="webhookevent_pending"),
            models.Index(
                fields=["created_at"], condition=Q(state="parked"), name="webhookevent_parked"
            ),
            models.Index(fields=["tech_provider", "-created_at"], name="webhookevent_tp_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class Delivery(BaseModel):
    """One event to deliver to one Tech Provider's callback URL; the row is the truth.

    Any event can be delivered: a Meta one (`event` set) or one of ours (`event` empty). The body
    is rendered once, so every attempt and replay sends the same bytes under the same webhook-id.
    """

    class State(models.TextChoices):
        PENDING = "pending"  # due at next_attempt_at
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # stopped without success: endpoint gone, disabled or not configured
        DEAD = "dead"  # every scheduled attempt failed

    tech_provider = models.ForeignKey(
        TechProvider, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    webhook_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # in the current cycle (a replay resets it)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    replays = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["tech_provider", "webhook_id"], name="delivery_once_per_tech_provider"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "succeeded", "failed", "dead"]),
                name="delivery_state_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(state="pending"), name="delivery_due"
            ),
            models.Index(fields=["tech_provider", "-created_at"], name="delivery_tp_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery: what happened, how long it took."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        HTTP_ERROR = "http_error"
        REDIRECT = "redirect"  # a failure; the Location is never followed
        TIMEOUT = "timeout"
        CONNECTION_ERROR = "connection_error"
        BLOCKED = "blocked"  # the SSRF guard refused the address
        NOT_SENT = "not_sent"  # no callback URL, or the endpoint is disabled

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=2000, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_delivery_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class EndpointHealth(models.Model):
    """How a Tech Provider's callback URL has been doing; drives the 5-day auto-disable."""

    tech_provider = models.OneToOneField(
        TechProvider, on_delete=models.CASCADE, related_name="endpoint_health"
    )
    failing_since = models.DateTimeField(null=True, blank=True)  # first failure since a success
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"endpoint of {self.tech_provider_id}"


class MessageStatus(BaseModel):
    """The furthest status Meta reported for one outbound message (wamid); it never goes back.

    Kept apart from the outbox `Message` (issue 7) so a status that arrives before the send is
    recorded cannot collide with it: the outbox row stores the wamid Meta returned and reads this.
    """

    class Status(models.TextChoices):
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        PLAYED = "played"
        FAILED = "failed"

    wamid = models.CharField(max_length=128, unique=True)
    waba = models.ForeignKey(
        WhatsAppBusinessAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    phone_number_id = models.CharField(max_length=32, blank=True)
    recipient_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    rank = models.PositiveSmallIntegerField()  # see messaging.services.statuses.RANK
    status_at = models.DateTimeField(null=True, blank=True)  # Meta's timestamp of `status`
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.TextField(blank=True)
    biz_opaque_callback_data = models.TextField(blank=True)
    pricing_category = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name_plural = "message statuses"
        indexes = [
            # a send whose answer was lost is looked up by the uuid it carried (issue 7)
            models.Index(
                fields=["biz_opaque_callback_data"],
                condition=~Q(biz_opaque_callback_data=""),
                name="messagestatus_callback_data",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.wamid}: {self.status}"


class ConversationWindow(BaseModel):
    """The 24-hour customer service window of one (business number, customer) pair."""

    phone_number_id = models.CharField(max_length=32)
    wa_id = models.CharField(max_length=64)  # the customer's wa_id (or business-scoped user id)
    waba = models.ForeignKey(
        WhatsAppBusinessAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    last_inbound_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_message_id = models.CharField(max_length=128, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phone_number_id", "wa_id"], name="window_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number_id} <-> {self.wa_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class MessageTemplate(BaseModel):
    """A WABA's message template as Meta's webhooks last described it (issue 7 extends it)."""

    waba = models.ForeignKey(
        WhatsAppBusinessAccount, on_delete=models.CASCADE, related_name="message_templates"
    )
    template_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=512, blank=True)
    language = models.CharField(max_length=16, blank=True)
    category = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=32, blank=True)
    status_reason = models.TextField(blank=True)
    quality_score = models.CharField(max_length=16, blank=True)
    status_updated_at = models.DateTimeField(null=True, blank=True)  # Meta's time, for ordering
    category_updated_at = models.DateTimeField(null=True, blank=True)
    quality_updated_at = models.DateTimeField(null=True, blank=True)
    # What the template says, from our create/edit calls or Meta's list (issue 7).
    components = models.JSONField(default=list, blank=True)
    parameter_format = models.CharField(max_length=16, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)  # last read from Meta's list

    class Meta:
        indexes = [models.Index(fields=["waba", "name", "language"], name="template_lookup")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language}): {self.status}"


class WabaAlert(models.Model):
    """An account_update worth a person's attention (ban, violation, restriction, removal)."""

    waba = models.ForeignKey(WhatsAppBusinessAccount, on_delete=models.CASCADE, related_name="+")
    event = models.OneToOneField(WebhookEvent, on_delete=models.CASCADE, related_name="alert")
    kind = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)  # e.g. the WABA was offboarded
    handling_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} on {self.waba_id}"


class Message(BaseModel):
    """One outbound message to one recipient: the outbox row is the truth, Celery only a nudge.

    queued -> sending (a send pump holds it, under a lease) -> sent -> delivered -> read, or
    failed (refused, by us or by Meta's answer) / undelivered (Meta accepted it, then could not
    deliver). `rank` only grows once Meta has it, so reordered status webhooks cannot move it
    back; a pump may hand a message back from sending to queued (throttled, or retrying).
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"
        UNDELIVERED = "undelivered"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Indexed by message_tp_created, whose first column it is: a second index on it alone only
    # cost every send's INSERT another index write.
    tech_provider = models.ForeignKey(
        TechProvider, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    waba = models.ForeignKey(WhatsAppBusinessAccount, on_delete=models.CASCADE, related_name="+")
    sender = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="+")
    phone_number_id = models.CharField(max_length=32)  # Meta's id of the sending number
    src = models.CharField(max_length=20)  # digits of the sending number
    dst = models.CharField(max_length=20)  # digits of the recipient (Meta's `to`)
    kind = models.CharField(max_length=16)  # Meta's message type: text, template, image, ...
    content = models.JSONField()  # the object Meta expects under `kind`
    # The approved template to send instead when the window turns out closed at send time.
    fallback = models.JSONField(null=True, blank=True)
    fallback_used = models.BooleanField(default=False)
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=16, blank=True)
    callback_url = models.CharField(max_length=2000, blank=True)
    callback_method = models.CharField(max_length=4, default="POST")
    callback_sequence = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    rank = models.PositiveSmallIntegerField(default=0)  # see messaging.services.outbox_states
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    # Unique by a constraint (message_wamid_unique), not unique=True, which on PostgreSQL also
    # builds a second, LIKE-pattern index that no query uses and every INSERT writes.
    wamid = models.CharField(max_length=128, null=True, blank=True)
    pricing_category = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # calls made to Meta
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The last call ended without an answer: Meta may have the message; look before resending.
    outcome_unknown = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)  # Plivo's message_expiry
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "queued",
                        "sending",
                        "sent",
                        "delivered",
                        "read",
                        "failed",
                        "undelivered",
                    ]
                ),
                name="message_state_valid",
            ),
            models.UniqueConstraint(fields=["wamid"], name="message_wamid_unique"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state="queued"),
                name="message_due",
            ),
            models.Index(
                fields=["lease_expires_at"], condition=Q(state="sending"), name="message_leased"
            ),
            models.Index(fields=["tech_provider", "-created_at"], name="message_tp_created"),
        ]

    def __str__(self) -> str:
        return f"{self.uuid} to {self.dst} ({self.state})"


class StatusCallback(BaseModel):
    """One Plivo-style status callback of a message, to the `url` given on send."""

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # every attempt failed, or the URL is refused

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="callbacks")
    sequence = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16)
    url = models.CharField(max_length=2000)
    method = models.CharField(max_length=4, default="POST")
    params = models.JSONField()  # Plivo's field names: MessageUUID, To, From, Status, ...
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "sequence"], name="callback_sequence"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state="pending"),
                name="callback_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} of {self.message_id} ({self.state})"


class InboundMedia(BaseModel):
    """A media object a customer sent: fetched from Meta at once (its URL expires), then ours."""

    class State(models.TextChoices):
        PENDING = "pending"
        STORED = "stored"
        FAILED = "failed"

    media_id = models.CharField(max_length=64, unique=True)  # Meta's id
    tech_provider = models.ForeignKey(TechProvider, on_delete=models.CASCADE, related_name="+")
    waba = models.ForeignKey(WhatsAppBusinessAccount, on_delete=models.CASCADE, related_name="+")
    phone_number_id = models.CharField(max_length=32, blank=True)
    wamid = models.CharField(max_length=128, blank=True)  # the inbound message carrying it
    kind = models.CharField(max_length=16)  # image, audio, video, document, sticker
    mime_type = models.CharField(max_length=128, blank=True)
    sha256 = models.CharField(max_length=128, blank=True)  # as Meta announced it
    filename = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    storage_name = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    stored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbound media"
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state="pending"),
                name="inboundmedia_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.media_id} ({self.state})"


class NumberHealth(BaseModel):
    """Our side of a sending number: a throughput override and when its quality was last read."""

    number = models.OneToOneField(
        PhoneNumber, on_delete=models.CASCADE, related_name="messaging_health"
    )
    mps_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per second to stay under instead of Meta's."
    )
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.TextField(blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)  # the last quality or limit drop

    def __str__(self) -> str:
        return f"health of number {self.number_id}"


class QualityEvent(models.Model):
    """A change of a number's quality, limit or throughput, or of a template's status or
    quality; drops (GREEN to YELLOW or RED, a lower limit, a template PAUSED or DISABLED) are
    flagged and told to the Tech Provider."""

    class Kind(models.TextChoices):
        NUMBER_QUALITY = "number_quality"
        NUMBER_LIMIT = "number_limit"
        NUMBER_THROUGHPUT = "number_throughput"
        TEMPLATE_STATUS = "template_status"
        TEMPLATE_QUALITY = "template_quality"

    waba = models.ForeignKey(WhatsAppBusinessAccount, on_delete=models.CASCADE, related_name="+")
    phone_number_id = models.CharField(max_length=32, blank=True)
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    previous = models.CharField(max_length=32, blank=True)
    current = models.CharField(max_length=32, blank=True)
    is_drop = models.BooleanField(default=False)
    source = models.CharField(max_length=16)  # webhook or refresh
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["is_drop", "-created_at"], name="qualityevent_drops")]

    def __str__(self) -> str:
        subject = self.phone_number_id or (self.template_id and f"template {self.template_id}")
        return f"{self.kind} of {subject}: {self.previous or '-'} -> {self.current}"


class SendRate(models.Model):
    """The limiter's state when there is no Redis (the embedded default): one row per key."""

    key = models.CharField(max_length=200, unique=True)
    tat = models.FloatField(default=0.0)  # GCRA's theoretical arrival time, unix seconds

    def __str__(self) -> str:
        return self.key
