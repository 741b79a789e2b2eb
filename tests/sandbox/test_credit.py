"""Contract: credit sharing and attach, allocation reads and revocation (system user only)."""

from django.conf import settings

from sandbox.selectors import sandbox_calls
from tests.sandbox.conftest import Graph, Onboarded

LINE = settings.SANDBOX_CREDIT_LINE_ID


def _share(graph: Graph, waba_id: str, currency: str = "EUR"):
    return graph.post(
        f"{LINE}/whatsapp_credit_sharing_and_attach",
        query=f"waba_currency={currency}&waba_id={waba_id}",
    )


def test_sharing_returns_an_allocation_that_matches_the_wabas_funding(
    onboarded: Onboarded, system_graph: Graph
):
    response = _share(system_graph, onboarded.waba_id)
    assert response.status_code == 200
    body = response.json()
    assert body["waba_id"] == onboarded.waba_id
    allocation = system_graph.get(
        body["allocation_config_id"], {"fields": "id,receiving_credential,request_status"}
    ).json()
    waba = onboarded.graph.get(
        onboarded.waba_id, {"fields": "primary_funding_id,owner_business_info"}
    ).json()
    assert allocation["receiving_credential"]["id"] == waba["primary_funding_id"]
    assert waba["owner_business_info"]["id"] == onboarded.signup["business_id"]


def test_each_of_metas_currencies_is_accepted_and_others_refused(
    onboarded: Onboarded, system_graph: Graph
):
    refused = _share(system_graph, onboarded.waba_id, currency="JPY")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 100
    for currency in ("AUD", "EUR", "GBP", "IDR", "INR", "USD"):
        shared = _share(system_graph, onboarded.waba_id, currency)
        assert shared.status_code == 200, currency
        waba = onboarded.graph.get(onboarded.waba_id, {"fields": "currency"}).json()
        assert waba["currency"] == currency
        system_graph.delete(shared.json()["allocation_config_id"])


def test_a_business_token_may_not_share_the_credit_line(onboarded: Onboarded):
    response = _share(onboarded.graph, onboarded.waba_id)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == 200


def test_sharing_twice_is_refused_so_a_lost_answer_must_be_looked_up(
    onboarded: Onboarded, system_graph: Graph
):
    first = _share(system_graph, onboarded.waba_id).json()
    again = _share(system_graph, onboarded.waba_id)
    assert again.status_code == 400
    found = system_graph.get(
        f"{LINE}/owning_credit_allocation_configs",
        {
            "receiving_business_id": onboarded.signup["business_id"],
            "fields": "id,receiving_business,request_status",
        },
    ).json()["data"]
    assert [a["id"] for a in found] == [first["allocation_config_id"]]
    assert found[0]["receiving_business"]["id"] == onboarded.signup["business_id"]
    assert sandbox_calls(endpoint="credit_line.share", succeeded=True).count() == 1


def test_deleting_the_allocation_revokes_it_and_clears_the_funding(
    onboarded: Onboarded, system_graph: Graph
):
    allocation_id = _share(system_graph, onboarded.waba_id).json()["allocation_config_id"]
    assert system_graph.delete(allocation_id).json() == {"success": True}
    status = system_graph.get(allocation_id, {"fields": "request_status"}).json()
    assert status["request_status"] == "DELETED"
    waba = onboarded.graph.get(onboarded.waba_id, {"fields": "primary_funding_id"}).json()
    assert "primary_funding_id" not in waba
    assert _share(system_graph, onboarded.waba_id).status_code == 200


def test_an_unknown_waba_is_code_100(system_graph: Graph):
    response = _share(system_graph, "123456789012345")
    assert response.json()["error"]["code"] == 100


def test_the_partner_can_list_its_credit_lines(system_graph: Graph):
    data = system_graph.get(f"{settings.SANDBOX_PARTNER_BUSINESS_ID}/extendedcredits").json()
    assert [line["id"] for line in data["data"]] == [LINE]
