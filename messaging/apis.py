"""The Tech Provider webhook API under /v1/Account/{auth_id}/WhatsApp/Webhook/: the callback URL,
its signing secret, the delivery log with attempts, and replays. One view per action.
"""

import json
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from messaging import selectors
from messaging.models import Delivery, DeliveryAttempt
from messaging.services import deliveries as delivery_services
from messaging.services import endpoints
from onboarding.api.auth import tech_provider_of
from onboarding.api.pagination import paginate
from onboarding.apis import TechProviderApi
from onboarding.errors import InvalidRequest
from onboarding.models import TechProvider

BASE = "WhatsApp/Webhook/"


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


class WebhookConfigApi(TechProviderApi):
    """GET the callback configuration; POST {"url": ...} to set it ("" removes it)."""

    class InputSerializer(serializers.Serializer[Any]):
        url = serializers.CharField(allow_blank=True, max_length=2000, trim_whitespace=True)

    def get(self, request: Request, auth_id: str) -> Response:
        return Response(webhook_config(tech_provider_of(request)))

    def post(self, request: Request, auth_id: str) -> Response:
        data = _valid(self.InputSerializer(data=request.data))
        tech_provider = endpoints.webhook_url_set(
            tech_provider=tech_provider_of(request), url=data["url"]
        )
        return Response({"message": "callback URL updated", **webhook_config(tech_provider)})


class WebhookSecretRotateApi(TechProviderApi):
    """POST: start signing with a new secret; the old one keeps signing for `grace_seconds`."""

    class InputSerializer(serializers.Serializer[Any]):
        secret = serializers.CharField(required=False, max_length=200)
        grace_seconds = serializers.IntegerField(required=False, min_value=0, max_value=7 * 86400)

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

    class FilterSerializer(serializers.Serializer[Any]):
        state = serializers.ChoiceField(choices=Delivery.State.choices, required=False)
        event_type = serializers.CharField(required=False, max_length=64)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    def get(self, request: Request, auth_id: str) -> Response:
        filters = _valid(self.FilterSerializer(data=request.query_params))
        tech_provider = tech_provider_of(request)
        rows = selectors.delivery_list_for_tech_provider(tech_provider=tech_provider, **filters)
        items, meta = paginate(request, rows.select_related("tech_provider"))
        return Response({"meta": meta, "objects": [delivery_output(d) for d in items]})


class DeliveryDetailApi(TechProviderApi):
    """GET one delivery by its webhook-id, with the payload and every attempt."""

    def get(self, request: Request, auth_id: str, webhook_id: str) -> Response:
        delivery = selectors.delivery_get_for_tech_provider(
            tech_provider=tech_provider_of(request), webhook_id=webhook_id
        )
        return Response(delivery_output(delivery, with_payload=True))


class DeliveryReplayApi(TechProviderApi):
    """POST: send one delivery again (same webhook-id, fresh timestamp and signature)."""

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

    class InputSerializer(serializers.Serializer[Any]):
        since = serializers.DateTimeField()
        states = serializers.ListField(
            child=serializers.ChoiceField(choices=["failed", "dead"]),
            required=False,
            allow_empty=False,
        )

    def post(self, request: Request, auth_id: str) -> Response:
        data = _valid(self.InputSerializer(data=request.data))
        count = delivery_services.deliveries_replay_since(
            tech_provider=tech_provider_of(request),
            since=data["since"],
            states=data.get("states") or delivery_services.REPLAYABLE,
        )
        return Response({"message": f"{count} deliveries queued again", "count": count}, status=202)
