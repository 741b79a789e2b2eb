"""Message templates through Graph `message_templates`: create, edit, delete, and sync.

MessageTemplate rows are the same rows template webhooks keep current (messaging.services.
effects): our calls write what Meta answered, the webhooks write the review's outcome and later
status and quality changes, and a sync reads Meta's list (beat every MESSAGE_TEMPLATE_SYNC_S, or
on request) for templates made elsewhere. A webhook may beat our own write of a template we just
created or edited, so our writes never overwrite a status a webhook already set.
"""

import logging
from datetime import datetime
from typing import Any

from celery import current_app
from django.db.models import Q
from django.utils import timezone

from messaging.models import MessageTemplate
from messaging.services.quality import quality_change_record
from messaging.template_input import TemplateEdit, TemplateSpec
from onboarding import selectors as onboarding_selectors
from onboarding.errors import InvalidRequest, OnboardingError
from onboarding.graph import GraphError
from onboarding.graph.types import MessageTemplate as GraphTemplate
from onboarding.models import WhatsAppBusinessAccount
from onboarding.services.meta import graph_client_for_waba

logger = logging.getLogger(__name__)

SYNC_WABA = "messaging.templates_sync"
_SYNC_FIELDS = (
    "id",
    "name",
    "language",
    "status",
    "category",
    "components",
    "parameter_format",
    "rejected_reason",
    "quality_score",
)
_PAGE = 100


class MetaUnavailable(OnboardingError):
    """Meta did not answer, or answered that it is busy: nothing changed here; retry."""

    status = 502


def graph_refusal(error: GraphError, what: str) -> OnboardingError:
    """A Graph error as the API's error: retryable ones are 502, the rest Meta's refusal."""
    if error.retryable:
        return MetaUnavailable(
            f"Meta did not answer the {what} ({error}); nothing was changed here. Retry shortly."
        )
    reason = error.user_message or error.details or error.message
    return InvalidRequest(f"Meta refused the {what}: {reason} (#{error.code}).")


def _assert_manageable(waba: WhatsAppBusinessAccount) -> None:
    if waba.status == WhatsAppBusinessAccount.Status.OFFBOARDED:
        raise InvalidRequest(
            "This WhatsApp Business Account was offboarded; its templates are gone."
        )


def template_create(*, waba: WhatsAppBusinessAccount, spec: TemplateSpec) -> MessageTemplate:
    """Submit a template for Meta's review; it starts PENDING (a webhook brings the verdict)."""
    _assert_manageable(waba)
    try:
        created = graph_client_for_waba(waba).create_message_template(
            waba.waba_id,
            name=spec.name,
            language=spec.language,
            category=spec.category,
            components=spec.components,
            parameter_format=spec.parameter_format,
        )
    except GraphError as error:
        raise graph_refusal(error, "template") from None
    described = {
        "name": spec.name,
        "language": spec.language,
        "components": spec.components,
        "parameter_format": spec.parameter_format,
    }
    row, made = MessageTemplate.objects.get_or_create(
        template_id=created.id,
        defaults={
            **described,
            "waba": waba,
            "category": created.category or spec.category,
            "status": created.status or "PENDING",
        },
    )
    if not made:  # the review's webhook came first: keep its status, add what we know
        MessageTemplate.objects.filter(pk=row.pk).update(**described, updated_at=timezone.now())
        row.refresh_from_db()
    return row


def template_edit(*, template: MessageTemplate, edit: TemplateEdit) -> MessageTemplate:
    """Change components and/or category; Meta reviews the template again (PENDING)."""
    _assert_manageable(template.waba)
    started = timezone.now()
    try:
        graph_client_for_waba(template.waba).update_message_template(
            template.template_id, components=edit.components, category=edit.category
        )
    except GraphError as error:
        raise graph_refusal(error, "edit") from None
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if edit.components is not None:
        changes["components"] = edit.components
    if edit.category:
        changes["category"] = edit.category
    MessageTemplate.objects.filter(pk=template.pk).update(**changes)
    not_newer = Q(status_updated_at__isnull=True) | Q(status_updated_at__lt=started)
    MessageTemplate.objects.filter(not_newer, pk=template.pk).update(
        status="PENDING", status_reason="", status_updated_at=None
    )
    template.refresh_from_db()
    return template


def template_delete(*, template: MessageTemplate) -> None:
    """Delete one template (this language only) at Meta, and here."""
    _assert_manageable(template.waba)
    try:
        graph_client_for_waba(template.waba).delete_message_template(
            template.waba.waba_id, name=template.name, template_id=template.template_id
        )
    except GraphError as error:
        if error.code != 100 or error.subcode != 33:  # already gone at Meta is fine
            raise graph_refusal(error, "deletion") from None
    MessageTemplate.objects.filter(pk=template.pk).update(
        status="DELETED", updated_at=timezone.now()
    )


def _sync_one(waba: WhatsAppBusinessAccount, found: GraphTemplate, now: datetime) -> None:
    described = {
        "name": found.name,
        "language": found.language,
        "category": found.category,
        "components": list(found.raw_components),
        "parameter_format": found.parameter_format,
        "synced_at": now,
    }
    row, made = MessageTemplate.objects.get_or_create(
        template_id=found.id,
        defaults={
            **described,
            "waba": waba,
            "status": found.status,
            "quality_score": found.quality_score,
        },
    )
    if made:
        return
    MessageTemplate.objects.filter(pk=row.pk).update(**described, updated_at=now)
    for kind, column, value in (
        ("template_status", "status", found.status),
        ("template_quality", "quality_score", found.quality_score),
    ):
        if value and getattr(row, column) != value:
            MessageTemplate.objects.filter(pk=row.pk).update(**{column: value})
            quality_change_record(
                waba=waba,
                kind=kind,
                previous=getattr(row, column),
                current=value,
                source="refresh",
                template=row,
            )


def templates_sync(*, waba: WhatsAppBusinessAccount) -> int:
    """Read every template of the WABA from Meta; ones Meta no longer has become DELETED."""
    client = graph_client_for_waba(waba)
    now, after, seen = timezone.now(), "", set[str]()
    while True:
        try:
            page = client.list_message_templates(
                waba.waba_id, limit=_PAGE, after=after or None, fields=_SYNC_FIELDS
            )
        except GraphError as error:
            raise graph_refusal(error, "template list") from None
        for found in page.templates:
            _sync_one(waba, found, now)
            seen.add(found.id)
        after = page.after
        if not after:
            break
    MessageTemplate.objects.filter(waba=waba).exclude(template_id__in=seen).exclude(
        status="DELETED"
    ).update(status="DELETED", updated_at=now)
    return len(seen)


def templates_sync_all() -> int:
    """Beat: one sync task per active WABA."""
    ids = list(onboarding_selectors.wabas_active().values_list("waba_id", flat=True))
    for waba_id in ids:
        current_app.send_task(SYNC_WABA, args=[waba_id])
    return len(ids)
