"""The Tech Provider webhook API under /v1/Account/{auth_id}/WhatsApp/Webhook/: the callback URL,
its signing secret, the delivery log with attempts, and replays. One view per action.
"""

import json
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from messaging import selectors
from messaging.models import Delivery, DeliveryAttempt
from messaging.services import deliveries as delivery_services
from messaging.services import endpoints
from onboarding.api.auth import tech_provider_of
from onboarding.api.openapi import PageMeta, PageQuery, tech_provider_schema
from onboarding.api.pagination import paginate
from onboarding.apis import TechProviderApi
from onboarding.errors import InvalidRequest
from onboarding.models import TechProvider

BASE = "WhatsApp/Webhook/"
TAG = "Webhooks"


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    """The validated data, or InvalidRequest naming the first bad field in plain words."""
    if serializer.is_valid():
        return dict(serializer.validated_data)
    name, problems = next(iter(serializer.errors.items()))
    problem = problems[0] if isinstance(problems, list) and problems else problems
    raise InvalidRequest(f"{name}: {problem}" if name != "non_field_errors" else str(problem))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def webhook_config(tech_provider: TechProvider) -> dict[str, Any]:
    return {
        "url": tech_provider.webhook_url or None,
        "enabled": bool(tech_provider.webhook_url) and tech_provider.webhook_disabled_at is None,
        "disabled_at": _iso(tech_provider.webhook_disabled_at),
        "disabled_reason": tech_provider.webhook_disabled_reason or None,
        "signature_scheme": "standard-webhooks-v1",
        "previous_secret_expires_at": _iso(tech_provider.webhook_secret_previous_expires_at),
    }


def _attempt(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": _iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "error": attempt.error or None,
    }


def delivery_output(delivery: Delivery, *, with_payload: bool = False) -> dict[str, Any]:
    output = {
        "webhook_id": delivery.webhook_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempt_count": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error or None,
        "created_at": _iso(delivery.created_at),
        "succeeded_at": _iso(delivery.succeeded_at),
        "replays": delivery.replays,
        "attempts": [_attempt(a) for a in delivery.attempts_log.all()],
        "resource_uri": f"/v1/Account/{delivery.tech_provider.auth_id}/{BASE}Delivery/"
        f"{delivery.webhook_id}/",
    }
    if with_payload:
        output["payload"] = json.loads(delivery.body)
    return output


class WebhookConfigOutput(serializers.Serializer[Any]):
    """The callback configuration (never a secret)."""

    api_id = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_null=True)
    signature_scheme = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)


class WebhookConfigUpdated(WebhookConfigOutput):
    message = serializers.CharField()


class SecretRotated(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField()
    secret = serializers.CharField(help_text="The new whsec_ secret, shown this once.")
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)


class AttemptOutput(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=DeliveryAttempt.Outcome.choices)
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class DeliveryOutput(serializers.Serializer[Any]):
    webhook_id = serializers.CharField()
    event_type = serializers.CharField()
    state = serializers.ChoiceField(choices=Delivery.State.choices)
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    succeeded_at = serializers.DateTimeField(allow_null=True)
    replays = serializers.IntegerField()
    attempts = AttemptOutput(many=True)
    resource_uri = serializers.CharField()


class DeliveryDetailOutput(DeliveryOutput):
    api_id = serializers.CharField()
    payload = serializers.JSONField(help_text="The body sent: our envelope around Meta's event.")


class DeliveryList(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    meta = PageMeta()
    objects = DeliveryOutput(many=True)


class DeliveryReplayed(DeliveryOutput):
    api_id = serializers.CharField()
    message = serializers.CharField()


class ReplayedSince(serializers.Serializer[Any]):
    api_id = serializers.CharField()
    message = serializers.CharField()
    count = serializers.IntegerField()


class WebhookConfigApi(TechProviderApi):
    """GET the callback configuration; POST {"url": ...} to set it ("" removes it)."""

    @extend_schema_serializer(component_name="WebhookConfigInput")
    class InputSerializer(serializers.Serializer[Any]):
        url = serializers.CharField(allow_blank=True, max_length=2000, trim_whitespace=True)

    @tech_provider_schema(
        operation_id="webhook_config_retrieve",
        tag=TAG,
        summary="The callback URL and its state",
        ok={200: WebhookConfigOutput},
    )
    def get(self, request: Request, auth_id: str) -> Response:
        return Response(webhook_config(tech_provider_of(request)))

    @tech_provider_schema(
        operation_id="webhook_config_update",
        tag=TAG,
        summary="Set the callback URL (SSRF-checked; an empty string removes it)",
        request=InputSerializer,
        ok={200: WebhookConfigUpdated},
        errors=(400,),
    )
    def post(self, request: Request, auth_id: str) -> Response:
        data = _valid(self.InputSerializer(data=request.data))
        tech_provider = endpoints.webhook_url_set(
            tech_provider=tech_provider_of(request), url=data["url"]
        )
        return Response({"message": "callback URL updated", **webhook_config(tech_provider)})


class WebhookSecretRotateApi(TechProviderApi):
    """POST: start signing with a new secret; the old one keeps signing for `grace_seconds`."""

    @extend_schema_serializer(component_name="WebhookSecretInput")
    class InputSerializer(serializers.Serializer[Any]):
        secret = serializers.CharField(required=False, max_length=200)
        grace_seconds = serializers.IntegerField(required=False, min_value=0, max_value=7 * 86400)

    @tech_provider_schema(
        operation_id="webhook_secret_rotate",
        tag=TAG,
        summary="Rotate the signing secret; the old one signs too for the grace period",
        request=InputSerializer,
        ok={200: SecretRotated},
        errors=(400,),
    )
    def post(self, request: Request, auth_id: str) -> Response:
        data = _valid(self.InputSerializer(data=request.data))
        rotated = endpoints.webhook_secret_rotate(
            tech_provider=tech_provider_of(request),
            secret=data.get("secret"),
            grace_s=data.get("grace_seconds"),
        )
        return Response(
            {
                "message": "signing secret rotated; store it now, it is not shown again",
                "secret": rotated.secret,
                "previous_secret_expires_at": _iso(rotated.previous_expires_at),
            }
        )


class DeliveryListApi(TechProviderApi):
    """GET the delivery log, newest first, each with its attempts (Plivo list shape)."""

    @extend_schema_serializer(component_name="DeliveryFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        state = serializers.ChoiceField(choices=Delivery.State.choices, required=False)
        event_type = serializers.CharField(required=False, max_length=64)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @tech_provider_schema(
        operation_id="delivery_list",
        tag=TAG,
        summary="The delivery log, newest first, each with its attempts",
        parameters=[PageQuery, FilterSerializer],
        ok={200: DeliveryList},
        errors=(400,),
    )
    def get(self, request: Request, auth_id: str) -> Response:
        filters = _valid(self.FilterSerializer(data=request.query_params))
        tech_provider = tech_provider_of(request)
        rows = selectors.delivery_list_for_tech_provider(tech_provider=tech_provider, **filters)
        items, meta = paginate(request, rows.select_related("tech_provider"))
        return Response({"meta": meta, "objects": [delivery_output(d) for d in items]})


class DeliveryDetailApi(TechProviderApi):
    """GET one delivery by its webhook-id, with the payload and every attempt."""

    @tech_provider_schema(
        operation_id="delivery_retrieve",
        tag=TAG,
        summary="One delivery by its webhook-id, with the payload and every attempt",
        ok={200: DeliveryDetailOutput},
        errors=(400, 404),
    )
    def get(self, request: Request, auth_id: str, webhook_id: str) -> Response:
        delivery = selectors.delivery_get_for_tech_provider(
            tech_provider=tech_provider_of(request), webhook_id=webhook_id
        )
        return Response(delivery_output(delivery, with_payload=True))


class DeliveryReplayApi(TechProviderApi):
    """POST: send one delivery again (same webhook-id, fresh timestamp and signature)."""

    @tech_provider_schema(
        operation_id="delivery_replay",
        tag=TAG,
        summary="Send one delivery again: same webhook-id and body, fresh signature",
        request=None,
        ok={202: DeliveryReplayed},
        errors=(400, 404),
    )
    def post(self, request: Request, auth_id: str, webhook_id: str) -> Response:
        delivery = selectors.delivery_get_for_tech_provider(
            tech_provider=tech_provider_of(request), webhook_id=webhook_id
        )
        delivery = delivery_services.delivery_replay(delivery=delivery)
        return Response(
            {"message": "delivery queued again", **delivery_output(delivery)}, status=202
        )


class DeliveryReplaySinceApi(TechProviderApi):
    """POST {"since": ISO time, "states": [...]}: replay every failed or dead delivery since."""

    @extend_schema_serializer(component_name="ReplaySinceInput")
    class InputSerializer(serializers.Serializer[Any]):
        since = serializers.DateTimeField()
        states = serializers.ListField(
            child=serializers.ChoiceField(choices=["failed", "dead"]),
            required=False,
            allow_empty=False,
        )

    @tech_provider_schema(
        operation_id="delivery_replay_since",
        tag=TAG,
        summary="Replay every failed or dead delivery created since a time",
        request=InputSerializer,
        ok={202: ReplayedSince},
        errors=(400,),
    )
    def post(self, request: Request, auth_id: str) -> Response:
        data = _valid(self.InputSerializer(data=request.data))
        count = delivery_services.deliveries_replay_since(
            tech_provider=tech_provider_of(request),
            since=data["since"],
            states=data.get("states") or delivery_services.REPLAYABLE,
        )
        return Response({"message": f"{count} deliveries queued again", "count": count}, status=202)
