"""Access checks shared by handlers: which nodes the calling token may see or change."""

from sandbox.graph.auth import Principal
from sandbox.graph.auth import can_see_waba as _can_see_waba
from sandbox.graph.errors import GraphError, missing_object, permission_denied
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxCreditLine, SandboxWaba


def waba_for(req: GraphRequest, waba: SandboxWaba) -> Principal:
    """The caller, if it may see this WABA; Meta answers an unseen one like a missing one."""
    principal = req.authenticate()
    if principal.kind == "APP" or not _can_see_waba(principal, waba):
        raise missing_object(req.node_id, req.method)
    return principal


def credit_line_for(req: GraphRequest, line: SandboxCreditLine) -> Principal:
    """Credit calls need the owning partner's system user token."""
    principal = req.authenticate()
    if not principal.is_system_user:
        raise permission_denied()
    if principal.app.business_id != line.business_id:
        raise missing_object(req.node_id, req.method)
    return principal


def require_system_user(req: GraphRequest) -> Principal:
    principal = req.authenticate()
    if not principal.is_system_user:
        raise GraphError(200)
    return principal
