"""Message templates: creation, review after a delay, edits, deletion, status events."""

import re
from datetime import timedelta
from typing import Any

from django.db import transaction

from sandbox import clock, ids
from sandbox.graph.errors import GraphError, invalid_parameter
from sandbox.models import SandboxTemplate, SandboxWaba
from sandbox.services import dispatch, webhooks
from sandbox.services.bootstrap import sandbox_config_get

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
STATUSES = (
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "DELETED",
    "LIMIT_EXCEEDED",
    "ARCHIVED",
    "FLAGGED",
    "REINSTATED",
    "LOCKED",
)
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
REJECT_PREFIX = "reject_"  # magic: templates named reject_* are rejected on review


def template_validate(*, name: str, language: str, category: str, components: Any) -> None:
    if not _NAME.match(name):
        raise invalid_parameter(
            "Param name must contain only lowercase letters, digits and underscores",
            user_title="Invalid template name",
            user_msg="Use lowercase letters, digits and underscores only.",
        )
    if not _LANGUAGE.match(language):
        raise invalid_parameter(f"Param language has an invalid value: {language}")
    if category not in CATEGORIES:
        raise invalid_parameter(f"Param category must be one of {{{', '.join(CATEGORIES)}}}")
    components_validate(components)


def components_validate(components: Any) -> None:
    if not isinstance(components, list) or not components:
        raise invalid_parameter("Param components must be a non-empty array")
    kinds = [str(c.get("type", "")).upper() if isinstance(c, dict) else "" for c in components]
    if any(kind not in COMPONENT_TYPES for kind in kinds):
        raise invalid_parameter(f"Each component's type must be one of {COMPONENT_TYPES}")
    if kinds.count("BODY") != 1:
        raise invalid_parameter(
            "A template must have exactly one BODY component",
            user_title="Message template body is required",
            user_msg="Add one BODY component with the message text.",
        )
    body = components[kinds.index("BODY")]
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 1024:
        raise invalid_parameter("Param components[BODY]['text'] must be 1 to 1024 characters")


def template_create(
    *,
    waba: SandboxWaba,
    name: str,
    language: str,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str = "POSITIONAL",
) -> SandboxTemplate:
    """A new template, PENDING until its review falls due."""
    template_validate(name=name, language=language, category=category, components=components)
    with transaction.atomic():
        live = SandboxTemplate.objects.filter(waba=waba, name=name, language=language)
        if live.exclude(status="DELETED").exists():
            raise GraphError(
                100,
                "Invalid parameter",
                subcode=2388024,
                user_title="Content in This Language Already Exists",
                user_msg=f"There is already {language} content for this template ({name}). "
                "Create a new template and try again.",
            )
        template = SandboxTemplate(
            template_id=ids.new_id(),
            waba=waba,
            name=name,
            language=language,
            category=category,
            components=components,
            parameter_format=parameter_format.upper() or "POSITIONAL",
        )
        _schedule_review(template)
        template.save()
    return template


def template_update(
    *, template: SandboxTemplate, components: list[dict[str, Any]] | None, category: str | None
) -> SandboxTemplate:
    """An edit sends the template back to review."""
    if components is not None:
        components_validate(components)
        template.components = components
    if category is not None:
        if category not in CATEGORIES:
            raise invalid_parameter(f"Param category must be one of {{{', '.join(CATEGORIES)}}}")
        template.category = category
    with transaction.atomic():
        template.status = "PENDING"
        _schedule_review(template)
        template.save()
    return template


def _schedule_review(template: SandboxTemplate) -> None:
    config = sandbox_config_get()
    template.review_due_at = clock.now() + timedelta(seconds=config.template_review_delay_s)
    rejected = template.name.startswith(REJECT_PREFIX)
    template.review_outcome = "REJECTED" if rejected else config.template_default_outcome
    transaction.on_commit(dispatch.wake)  # the dispatcher runs reviews: it waits for this one


def template_reviews_run() -> int:
    """Decide every PENDING template whose review is due; returns how many were decided."""
    decided = 0
    due = SandboxTemplate.objects.filter(status="PENDING", review_due_at__lte=clock.now())
    due_ids = list(due.values_list("pk", flat=True))  # a light read: most passes find none
    for template in SandboxTemplate.objects.filter(pk__in=due_ids).select_related("waba"):
        with transaction.atomic():
            moved = SandboxTemplate.objects.filter(pk=template.pk, status="PENDING").update(
                status=template.review_outcome,
                rejected_reason="INVALID_FORMAT"
                if template.review_outcome == "REJECTED"
                else "NONE",
            )
            if moved:
                template.refresh_from_db()
                template_status_event(template=template)
                decided += 1
    return decided


@transaction.atomic
def template_status_set(
    *, template: SandboxTemplate, status: str, reason: str = "NONE", other_info: dict | None = None
) -> SandboxTemplate:
    """Move a template (e.g. to PAUSED or DISABLED) and tell subscribed apps."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    template.status = status
    template.rejected_reason = reason if status == "REJECTED" else "NONE"
    template.review_due_at = None
    template.save()
    template_status_event(template=template, reason=reason, other_info=other_info)
    return template


@transaction.atomic
def template_delete(*, waba: SandboxWaba, name: str, template_id: str = "") -> int:
    """DELETE by name (every language) or by name and hsm_id (one); returns how many."""
    doomed = SandboxTemplate.objects.filter(waba=waba, name=name).exclude(status="DELETED")
    if template_id:
        doomed = doomed.filter(template_id=template_id)
    templates = list(doomed)
    if not templates:
        raise invalid_parameter(f'Message template "{name}" was not found')
    for template in templates:
        template.status = "DELETED"
        template.save(update_fields=["status", "updated_at"])
        template_status_event(template=template)
    return len(templates)


def template_status_event(
    *, template: SandboxTemplate, reason: str | None = None, other_info: dict | None = None
) -> None:
    """message_template_status_update, always to the app-level callback."""
    value: dict[str, Any] = {
        "event": template.status,
        "message_template_id": int(template.template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason or template.rejected_reason,
        "message_template_category": template.category,
    }
    if template.status == "REJECTED":
        value["rejection_info"] = {
            "reason": "The template's format is not valid.",
            "recommendation": "Check the variables and formatting, then submit it again.",
        }
    if other_info:
        value["other_info"] = other_info
    body = webhooks.envelope(
        entry_id=template.waba.waba_id,
        changes=[("message_template_status_update", value)],
        with_time=True,
    )
    webhooks.webhook_enqueue_for_waba(
        waba=template.waba,
        field="message_template_status_update",
        body=body,
        description=f"template {template.name} {template.status}",
    )


def template_quality_event(*, template: SandboxTemplate, new_score: str) -> None:
    """message_template_quality_update, e.g. GREEN -> YELLOW."""
    with transaction.atomic():
        previous = template.quality_score
        template.quality_score = new_score
        template.save(update_fields=["quality_score", "updated_at"])
        value = {
            "previous_quality_score": previous,
            "new_quality_score": new_score,
            "message_template_id": int(template.template_id),
            "message_template_name": template.name,
            "message_template_language": template.language,
        }
        body = webhooks.envelope(
            entry_id=template.waba.waba_id,
            changes=[("message_template_quality_update", value)],
            with_time=True,
        )
        webhooks.webhook_enqueue_for_waba(
            waba=template.waba,
            field="message_template_quality_update",
            body=body,
            description=f"template {template.name} quality {new_score}",
        )


def placeholders(text: str) -> int:
    """How many distinct {{n}} / {{name}} parameters a component text expects."""
    return len(set(_PLACEHOLDER.findall(text)))
