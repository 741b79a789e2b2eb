"""Staff views: every sandbox model has a working admin; actions go through sandbox services."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sandbox.models import SandboxFault, SandboxTemplate, SandboxWebhook
from sandbox.selectors import sandbox_calls
from sandbox.testing import simulate_signup
from tests.sandbox.conftest import Graph, exchange

SANDBOX_MODELS = [model for model in admin.site._registry if model._meta.app_label == "sandbox"]


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("staff", "staff@example.test", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_every_sandbox_model_is_registered():
    defined = set(apps.get_app_config("sandbox").get_models())
    assert defined == set(SANDBOX_MODELS)


def test_every_changelist_and_change_page_renders(staff: Client):
    signup = simulate_signup()
    graph = Graph(exchange(signup["code"]))
    graph.post(
        f"{signup['waba_id']}/message_templates",
        {
            "name": "hello",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi"}],
        },
    )
    graph.get("999999999999999")
    for model in SANDBOX_MODELS:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert staff.get(url).status_code == 200, url
        first = model._default_manager.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert staff.get(change).status_code == 200, change


def test_staff_inject_a_fault_in_the_admin_and_it_applies(staff: Client):
    signup = simulate_signup()
    graph = Graph(exchange(signup["code"]))
    response = staff.post(
        reverse("admin:sandbox_sandboxfault_add"),
        {
            "endpoint": "waba.get",
            "object_id": "",
            "kind": "error",
            "error_code": "4",
            "error_message": "",
            "latency_ms": "0",
            "remaining": "1",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert graph.get(signup["waba_id"]).json()["error"]["code"] == 4
    assert sandbox_calls(endpoint="waba.get").get().fault.startswith("fault #")
    assert SandboxFault.objects.get().remaining == 0


def test_the_approve_action_sends_the_status_webhook(staff: Client):
    signup = simulate_signup()
    graph = Graph(exchange(signup["code"]))
    graph.post(f"{signup['waba_id']}/subscribed_apps")
    graph.post(
        f"{signup['waba_id']}/message_templates",
        {
            "name": "hello",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi"}],
        },
    )
    template = SandboxTemplate.objects.get()
    staff.post(
        reverse("admin:sandbox_sandboxtemplate_changelist"),
        {
            "action": "approve",
            "_selected_action": [template.pk],
        },
    )
    template.refresh_from_db()
    assert template.status == "APPROVED"
    assert SandboxWebhook.objects.filter(field="message_template_status_update").exists()
