"""Templates at /v1/Account/{auth_id}/WhatsApp/Template/{waba_id}/ through Graph
`message_templates` (faked with `responses`): validation before Meta, Meta's refusals, the whole
lifecycle kept current by template webhooks, edits, deletion, sync, and tenancy."""

import json
from typing import Any

import pytest
import responses
from django.test import Client
from rest_framework.test import APIClient

from messaging.models import Delivery, MessageTemplate, QualityEvent
from messaging.services.processing import webhook_events_process
from tests.conftest import Account
from tests.messaging.conftest import WABA_ID, entry_doc, post_meta
from tests.messaging.sending import (
    GRAPH,
    approved_template,
    body,
    graph,
    graph_error,
    sending_waba,
    template_ref,
)

pytestmark = pytest.mark.django_db
__all__ = ["graph"]  # the fixture

TEMPLATES_URL = f"{GRAPH}/{WABA_ID}/message_templates"
TEMPLATE_ID = "546151681022936"
VALID = {
    "name": "order_update",
    "language": "en_US",
    "category": "utility",
    "components": [
        {"type": "header", "format": "text", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} shipped."},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
    ],
}


@pytest.fixture
def waba(account: Account) -> Any:
    return sending_waba(account.tech_provider)


def url(account: Account, suffix: str = "") -> str:
    return account.url(f"WhatsApp/Template/{WABA_ID}/{suffix}")


def create(api: APIClient, account: Account, data: dict[str, Any]) -> Any:
    return api.post(url(account), data, format="json")


def template_webhook(event: str, time: int, **extra: Any) -> None:
    value = {
        "event": event,
        "message_template_id": int(TEMPLATE_ID),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": extra.pop("reason", "NONE"),
        **extra,
    }
    post_meta(Client(), entry_doc((WABA_ID, "message_template_status_update", value), time=time))
    webhook_events_process()


def test_a_valid_template_goes_to_meta_and_starts_pending(api, account, waba, graph) -> None:
    graph.post(TEMPLATES_URL, json={"id": TEMPLATE_ID, "status": "PENDING", "category": "UTILITY"})
    response = create(api, account, VALID)
    assert response.status_code == 201, response.content
    payload = response.json()
    assert (payload["template_id"], payload["status"], payload["category"]) == (
        TEMPLATE_ID,
        "PENDING",
        "UTILITY",
    )
    assert payload["resource_uri"] == (
        f"/v1/Account/{account.auth_id}/WhatsApp/Template/{WABA_ID}/{TEMPLATE_ID}/"
    )
    sent = json.loads(graph.calls[0].request.body)
    assert sent["name"] == "order_update"
    assert sent["category"] == "UTILITY"
    assert [c["type"] for c in sent["components"]] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert sent["components"][0]["format"] == "TEXT"
    row = MessageTemplate.objects.get()
    assert (row.waba_id, row.status, row.components[1]["text"]) == (
        waba.pk,
        "PENDING",
        "Hi {{1}}, your order {{2}} shipped.",
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"name": "Order Update"},
            "name must be snake_case: lowercase letters, digits and underscores (at most 512).",
        ),
        ({"language": "english"}, "language must be a language code such as en or en_US."),
        ({"category": "PROMO"}, "category must be one of MARKETING, UTILITY, AUTHENTICATION."),
        ({"components": []}, "components must be a non-empty list; it needs one BODY."),
        (
            {"components": [{"type": "FOOTER", "text": "x"}]},
            "A template needs exactly one BODY component.",
        ),
        (
            {"components": [{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]},
            "A template needs exactly one BODY component.",
        ),
        ({"components": [{"type": "BODY", "text": ""}]}, "The BODY needs text."),
        (
            {"components": [{"type": "BODY", "text": "x" * 1025}]},
            "The BODY text must be at most 1024 characters.",
        ),
        (
            {"components": [{"type": "BODY", "text": "Hi {{2}}"}]},
            "The BODY variables must be numbered {{1}}, {{2}}, ... in order.",
        ),
        (
            {"components": [{"type": "BODY", "text": "Hi {{name}}"}]},
            "The BODY uses named variables; set parameter_format to NAMED.",
        ),
        (
            {"components": [{"type": "BODY", "text": "a"}, {"type": "FOOTER", "text": "{{1}}"}]},
            "The FOOTER cannot have variables.",
        ),
        (
            {"components": [{"type": "BODY", "text": "a"}, {"type": "BUTTONS", "buttons": []}]},
            "BUTTONS needs a list of 1 to 10 buttons.",
        ),
        (
            {"components": [{"type": "CAROUSEL"}]},
            "components[0].type must be one of HEADER, BODY, FOOTER, BUTTONS.",
        ),
        ({"name": "bad\x00name"}, "The request may not contain NUL characters."),
    ],
)
def test_invalid_templates_are_refused_before_meta(
    api, account, waba, graph, change, expected
) -> None:
    response = create(api, account, {**VALID, **change})
    assert response.status_code == 400
    assert response.json()["error"] == expected
    assert len(graph.calls) == 0
    assert MessageTemplate.objects.count() == 0


def test_metas_refusal_is_passed_on_in_plain_words(api, account, waba, graph) -> None:
    graph.post(
        TEMPLATES_URL,
        **graph_error(
            100,
            "Invalid parameter",
            error_subcode=2388024,
            error_user_msg="Content in This Language Already Exists",
        ),
    )
    response = create(api, account, VALID)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Meta refused the template: Content in This Language Already Exists (#100)."
    )
    assert MessageTemplate.objects.count() == 0


def test_meta_being_down_is_a_502_and_changes_nothing(api, account, waba, graph) -> None:
    graph.post(TEMPLATES_URL, **graph_error(2, "Service temporarily unavailable", 503))
    response = create(api, account, VALID)
    assert response.status_code == 502
    assert "nothing was changed here" in response.json()["error"]
    assert MessageTemplate.objects.count() == 0


def test_the_lifecycle_pending_approved_paused_edited_deleted(api, account, waba, graph) -> None:
    graph.post(TEMPLATES_URL, json={"id": TEMPLATE_ID, "status": "PENDING", "category": "UTILITY"})
    graph.post(f"{GRAPH}/{TEMPLATE_ID}", json={"success": True})
    graph.delete(TEMPLATES_URL, json={"success": True})
    TechProvider = type(account.tech_provider)
    TechProvider.objects.filter(pk=account.tech_provider.pk).update(
        webhook_url="https://tp.example/h"
    )
    create(api, account, VALID)
    send = body(text=None, template=template_ref("order_update", "Asha", "A-1"))
    pending = api.post(account.url("Message/"), send, format="json")
    assert pending.json()["error"].endswith("is PENDING: only APPROVED templates can be sent.")

    template_webhook("APPROVED", 1794816100)
    detail = api.get(url(account, f"{TEMPLATE_ID}/")).json()
    assert detail["status"] == "APPROVED"
    send_ok = dict(send, template={**send["template"]})
    send_ok["template"]["components"] = [
        {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
        *send["template"]["components"],
    ]
    assert api.post(account.url("Message/"), send_ok, format="json").status_code == 202

    template_webhook("PAUSED", 1794816200, other_info={"title": "FIRST_PAUSE"})
    assert MessageTemplate.objects.get().status == "PAUSED"
    paused = api.post(account.url("Message/"), send_ok, format="json")
    assert paused.json()["error"].endswith("is PAUSED: only APPROVED templates can be sent.")
    drop = QualityEvent.objects.get(kind="template_status", current="PAUSED")
    assert (drop.previous, drop.is_drop) == ("APPROVED", True)
    alert = Delivery.objects.get(event_type="template.paused")
    assert json.loads(alert.body)["data"]["template"]["template_id"] == TEMPLATE_ID

    template_webhook("APPROVED", 1794816150)  # older than the pause: ignored
    assert MessageTemplate.objects.get().status == "PAUSED"

    edited = api.post(
        url(account, f"{TEMPLATE_ID}/"),
        {"components": [{"type": "BODY", "text": "Hello {{1}}"}]},
        format="json",
    )
    assert edited.status_code == 200
    assert edited.json()["status"] == "PENDING"
    assert json.loads(graph.calls[-1].request.body) == {
        "components": [{"type": "BODY", "text": "Hello {{1}}"}]
    }

    deleted = api.delete(url(account, f"{TEMPLATE_ID}/"))
    assert deleted.status_code == 200
    assert "hsm_id=546151681022936" in graph.calls[-1].request.url
    assert MessageTemplate.objects.get().status == "DELETED"
    assert api.get(url(account)).json()["meta"]["total_count"] == 0
    assert api.get(url(account, f"{TEMPLATE_ID}/")).status_code == 404


def test_a_rejection_keeps_metas_reason(api, account, waba, graph) -> None:
    graph.post(TEMPLATES_URL, json={"id": TEMPLATE_ID, "status": "PENDING", "category": "UTILITY"})
    create(api, account, VALID)
    template_webhook(
        "REJECTED",
        1794816100,
        reason="INVALID_FORMAT",
        rejection_info={"reason": "Adjacent parameters", "recommendation": "Add text"},
    )
    detail = api.get(url(account, f"{TEMPLATE_ID}/")).json()
    assert (detail["status"], detail["rejection_reason"]) == ("REJECTED", "Adjacent parameters")


def test_the_list_filters_and_pages(api, account, waba) -> None:
    approved_template(waba, "a_one", template_id="1")
    approved_template(waba, "b_two", template_id="2", status="PENDING")
    approved_template(waba, "c_three", template_id="3", status="DELETED")
    listed = api.get(url(account), {"limit": 1}).json()
    assert listed["meta"]["total_count"] == 2
    assert [o["name"] for o in listed["objects"]] == ["a_one"]
    assert [o["name"] for o in api.get(url(account), {"status": "PENDING"}).json()["objects"]] == [
        "b_two"
    ]
    assert api.get(url(account), {"status": "LOST"}).status_code == 400


def test_sync_reads_templates_made_elsewhere_and_drops_deleted_ones(
    api, account, waba, graph
) -> None:
    approved_template(waba, "gone_now", template_id="99")
    graph.get(
        TEMPLATES_URL,
        json={
            "data": [
                {
                    "id": "7",
                    "name": "made_in_manager",
                    "language": "en",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "components": [{"type": "BODY", "text": "Sale!"}],
                    "quality_score": {"score": "GREEN"},
                }
            ],
            "paging": {"cursors": {"before": "a", "after": "b"}},
        },
    )
    response = api.post(url(account, "Sync/"))
    assert response.status_code == 200
    assert response.json()["count"] == 1
    made = MessageTemplate.objects.get(template_id="7")
    assert (made.status, made.quality_score, made.components) == (
        "APPROVED",
        "GREEN",
        [{"type": "BODY", "text": "Sale!"}],
    )
    assert MessageTemplate.objects.get(template_id="99").status == "DELETED"
    assert "fields=" in graph.calls[0].request.url


def test_another_tech_providers_waba_answers_not_found(api, account, other_account) -> None:
    sending_waba(other_account.tech_provider)
    response = create(api, account, VALID)
    assert response.status_code == 404
    assert response.json()["error"] == "WABA not found."
    assert api.get(url(account)).status_code == 404


@responses.activate
def test_an_offboarded_waba_cannot_manage_templates(api, account, waba) -> None:
    waba.status = "offboarded"
    waba.save()
    response = create(api, account, VALID)
    assert response.status_code == 400
    assert "offboarded" in response.json()["error"]
