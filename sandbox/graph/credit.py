"""Handlers for credit lines and their allocation configs (system user token only)."""

from typing import Any

from sandbox.graph.access import credit_line_for, require_system_user
from sandbox.graph.auth import can_see_waba
from sandbox.graph.errors import missing_object
from sandbox.graph.nodes import render
from sandbox.graph.request import GraphRequest
from sandbox.models import (
    SandboxBusiness,
    SandboxCreditAllocation,
    SandboxCreditLine,
    SandboxWaba,
)
from sandbox.services import credit

ALLOCATION_DEFAULT_FIELDS = ["id", "request_status"]
ALLOCATION_LIST_DEFAULT_FIELDS = ["id", "receiving_business"]


def share_and_attach(req: GraphRequest, line: SandboxCreditLine) -> dict[str, Any]:
    principal = credit_line_for(req, line)
    waba_id = req.str_param("waba_id", required=True)
    currency = req.str_param("waba_currency", required=True)
    waba = SandboxWaba.objects.select_related("business").filter(waba_id=waba_id).first()
    if waba is None or not can_see_waba(principal, waba):
        raise missing_object(waba_id, req.method)
    allocation = credit.credit_share_and_attach(credit_line=line, waba=waba, currency=currency)
    return {"allocation_config_id": allocation.allocation_config_id, "waba_id": waba.waba_id}


def _allocation_fields(allocation: SandboxCreditAllocation) -> dict[str, Any]:
    business = allocation.receiving_business
    return {
        "id": lambda: allocation.allocation_config_id,
        "request_status": lambda: allocation.request_status,
        "receiving_credential": lambda: {"id": allocation.receiving_credential_id},
        "receiving_business": lambda: {"name": business.name, "id": business.business_id},
        "owning_credential": lambda: {"id": allocation.credit_line.credit_line_id},
        "owning_business": lambda: {"id": allocation.credit_line.business.business_id},
        "credential_type": lambda: "EXTENDED_CREDIT",
        "currency_amount": lambda: {"currency": allocation.currency},
    }


def allocation_get(req: GraphRequest, allocation: SandboxCreditAllocation) -> dict[str, Any]:
    credit_line_for(req, allocation.credit_line)
    return render(
        "allocation", _allocation_fields(allocation), req.fields(), ALLOCATION_DEFAULT_FIELDS
    )


def allocation_delete(req: GraphRequest, allocation: SandboxCreditAllocation) -> dict[str, Any]:
    credit_line_for(req, allocation.credit_line)
    credit.credit_allocation_delete(allocation=allocation)
    return {"success": True}


def allocations_list(req: GraphRequest, line: SandboxCreditLine) -> dict[str, Any]:
    """GET /{credit_line_id}/owning_credit_allocation_configs[?receiving_business_id=]"""
    credit_line_for(req, line)
    allocations = SandboxCreditAllocation.objects.filter(credit_line=line).select_related(
        "receiving_business", "credit_line__business"
    )
    business_id = req.str_param("receiving_business_id")
    if business_id:
        allocations = allocations.filter(receiving_business__business_id=business_id)
    requested = req.fields()
    return {
        "data": [
            render("allocation", _allocation_fields(a), requested, ALLOCATION_LIST_DEFAULT_FIELDS)
            for a in allocations.order_by("-created_at")
        ]
    }


def extended_credits(req: GraphRequest, business: SandboxBusiness) -> dict[str, Any]:
    """GET /{business_id}/extendedcredits: the partner's credit lines."""
    principal = require_system_user(req)
    if principal.app.business_id != business.pk:
        raise missing_object(req.node_id, req.method)
    return {
        "data": [
            {"id": line.credit_line_id, "legal_entity_name": line.legal_entity_name}
            for line in SandboxCreditLine.objects.filter(business=business)
        ]
    }
