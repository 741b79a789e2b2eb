"""Contract: message templates: PENDING, then approved or rejected after the configured delay."""

import json

from django.test import Client

from sandbox import clock
from sandbox.testing import configure, flush_webhooks
from tests.sandbox.conftest import CallbackServer, Onboarded

BODY = [{"type": "BODY", "text": "Your order {{1}} has shipped."}]


def _create(onboarded: Onboarded, name: str = "order_update", language: str = "en_US", **extra):
    body = {"name": name, "language": language, "category": "UTILITY", "components": BODY, **extra}
    return onboarded.graph.post(f"{onboarded.waba_id}/message_templates", body)


def _status(onboarded: Onboarded, template_id: str) -> str:
    return onboarded.graph.get(template_id, {"fields": "status"}).json()["status"]


def test_a_new_template_starts_pending(onboarded: Onboarded):
    response = _create(onboarded)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["category"] == "UTILITY"
    assert body["id"].isdigit()


def test_it_is_approved_once_the_review_delay_has_passed(onboarded: Onboarded):
    configure(template_review_delay_s=60)
    template_id = _create(onboarded).json()["id"]
    clock.advance(59)
    assert _status(onboarded, template_id) == "PENDING"
    clock.advance(2)
    assert _status(onboarded, template_id) == "APPROVED"


def test_a_template_named_reject_something_is_rejected(onboarded: Onboarded):
    configure(template_review_delay_s=0)
    template_id = _create(onboarded, name="reject_me").json()["id"]
    body = onboarded.graph.get(template_id, {"fields": "status,rejected_reason"}).json()
    assert body["status"] == "REJECTED"
    assert body["rejected_reason"] == "INVALID_FORMAT"


def test_the_default_outcome_can_be_rejection(onboarded: Onboarded):
    configure(template_review_delay_s=0, template_default_outcome="REJECTED")
    assert _status(onboarded, _create(onboarded).json()["id"]) == "REJECTED"


def test_the_verdict_is_sent_to_the_app_level_url_not_the_override(
    onboarded: Onboarded, callback: CallbackServer
):
    configure(template_review_delay_s=5)
    graph = onboarded.graph
    graph.post(f"{onboarded.waba_id}/subscribed_apps")
    graph.post(
        f"{onboarded.waba_id}/subscribed_apps",
        {
            "override_callback_uri": f"{callback.url}/waba-override/",
            "verify_token": callback.verify_token,
        },
    )
    template_id = _create(onboarded).json()["id"]
    flush_webhooks()
    assert callback.posts() == []  # nothing before the review is due
    clock.advance(6)
    flush_webhooks()
    (post,) = callback.posts()
    assert post.path == "/webhooks/meta/"
    entry = json.loads(post.body)["entry"][0]
    assert entry["id"] == onboarded.waba_id
    assert isinstance(entry["time"], int)
    change = entry["changes"][0]
    assert change["field"] == "message_template_status_update"
    assert change["value"] == {
        "event": "APPROVED",
        "message_template_id": int(template_id),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }


def test_the_same_name_and_language_twice_is_refused_with_subcode_2388024(onboarded: Onboarded):
    _create(onboarded)
    again = _create(onboarded)
    assert again.status_code == 400
    error = again.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388024)
    assert error["error_user_title"]
    assert _create(onboarded, language="pt_BR").status_code == 200


def test_invalid_templates_are_refused_with_code_100(onboarded: Onboarded):
    assert _create(onboarded, name="Order Update").json()["error"]["code"] == 100
    assert _create(onboarded, category="SPAM").json()["error"]["code"] == 100
    assert (
        _create(onboarded, components=[{"type": "FOOTER", "text": "x"}]).json()["error"]["code"]
        == 100
    )


def test_listing_filters_and_pages_with_cursors(onboarded: Onboarded):
    for i in range(5):
        _create(onboarded, name=f"t_{i}")
    first = onboarded.graph.get(f"{onboarded.waba_id}/message_templates", {"limit": 2}).json()
    assert [t["name"] for t in first["data"]] == ["t_0", "t_1"]
    assert "next" in first["paging"]
    after = first["paging"]["cursors"]["after"]
    second = onboarded.graph.get(
        f"{onboarded.waba_id}/message_templates", {"limit": 2, "after": after}
    ).json()
    assert [t["name"] for t in second["data"]] == ["t_2", "t_3"]
    named = onboarded.graph.get(f"{onboarded.waba_id}/message_templates", {"name": "t_4"}).json()
    assert [t["name"] for t in named["data"]] == ["t_4"]
    assert set(named["data"][0]) == {
        "name",
        "parameter_format",
        "components",
        "language",
        "status",
        "category",
        "id",
    }


def test_delete_by_name_removes_every_language(onboarded: Onboarded):
    _create(onboarded)
    _create(onboarded, language="pt_BR")
    response = onboarded.graph.delete(f"{onboarded.waba_id}/message_templates", "name=order_update")
    assert response.json() == {"success": True}
    listed = onboarded.graph.get(f"{onboarded.waba_id}/message_templates").json()["data"]
    assert listed == []
    missing = onboarded.graph.delete(f"{onboarded.waba_id}/message_templates", "name=order_update")
    assert missing.json()["error"]["code"] == 100


def test_delete_with_hsm_id_removes_one_language(onboarded: Onboarded):
    english = _create(onboarded).json()["id"]
    _create(onboarded, language="pt_BR")
    onboarded.graph.delete(
        f"{onboarded.waba_id}/message_templates", f"name=order_update&hsm_id={english}"
    )
    listed = onboarded.graph.get(f"{onboarded.waba_id}/message_templates").json()["data"]
    assert [t["language"] for t in listed] == ["pt_BR"]


def test_an_edit_sends_the_template_back_to_review(onboarded: Onboarded):
    configure(template_review_delay_s=0)
    template_id = _create(onboarded).json()["id"]
    assert _status(onboarded, template_id) == "APPROVED"
    configure(template_review_delay_s=30)
    edited = onboarded.graph.post(
        template_id, {"components": [{"type": "BODY", "text": "Order {{1}} is on its way."}]}
    )
    assert edited.json() == {"success": True}
    assert _status(onboarded, template_id) == "PENDING"


def test_the_control_api_pauses_a_template_and_tells_the_app(
    onboarded: Onboarded, callback: CallbackServer
):
    onboarded.graph.post(f"{onboarded.waba_id}/subscribed_apps")
    template_id = _create(onboarded).json()["id"]
    response = Client().post(
        f"/sandbox/control/templates/{template_id}/",
        {
            "status": "PAUSED",
            "other_info": {"title": "FIRST_PAUSE", "description": "Low quality"},
            "quality_score": "RED",
        },
        content_type="application/json",
    )
    assert response.json()["status"] == "PAUSED"
    flush_webhooks()
    fields = [json.loads(p.body)["entry"][0]["changes"][0] for p in callback.posts()]
    assert [f["field"] for f in fields] == [
        "message_template_quality_update",
        "message_template_status_update",
    ]
    assert fields[1]["value"]["event"] == "PAUSED"
    assert fields[1]["value"]["other_info"]["title"] == "FIRST_PAUSE"
    assert fields[0]["value"]["new_quality_score"] == "RED"
