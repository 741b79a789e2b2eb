"""Who is calling: the access token (header or access_token param) checked the way Meta does.

Three kinds of caller: an app access token (`<app_id>|<app_secret>`), a partner's system user
token, and a customer's business token from the code exchange, which sees only its target WABAs.
"""

from dataclasses import dataclass

from django.http import HttpRequest

from sandbox import clock, ids
from sandbox.graph.errors import GraphError
from sandbox.models import SandboxApp, SandboxToken, SandboxWaba, SandboxWabaShare

APP = "APP"


@dataclass(frozen=True)
class Principal:
    kind: str  # APP, BUSINESS or SYSTEM_USER
    app: SandboxApp
    token: SandboxToken | None
    hint: str

    @property
    def is_system_user(self) -> bool:
        return self.kind == SandboxToken.Kind.SYSTEM_USER


def raw_token(request: HttpRequest, params: dict[str, object]) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    param = params.get("access_token")
    return param if isinstance(param, str) else ""


def authenticate(token: str) -> Principal:
    """The caller behind a token, or Meta's 104 / 190 errors."""
    if not token:
        raise GraphError(104, "An access token is required to request this resource.")
    if "|" in token:
        return _app_token(token)
    found = (
        SandboxToken.objects.select_related("app", "business")
        .filter(token_hash=ids.digest(token))
        .first()
    )
    if found is None or found.revoked_at is not None:
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    if found.expires_at is not None and found.expires_at <= clock.now():
        raise GraphError(
            190,
            "Error validating access token: Session has expired on "
            f"{found.expires_at:%A, %d-%b-%y %H:%M:%S} UTC.",
            subcode=463,
        )
    return Principal(found.kind, found.app, found, found.hint)


def _app_token(token: str) -> Principal:
    app_id, _, secret = token.partition("|")
    app = SandboxApp.objects.select_related("business").filter(app_id=app_id).first()
    if app is None or app.secret != secret:
        raise GraphError(190, "Invalid OAuth access token signature.")
    return Principal(APP, app, None, ids.hint(secret))


def can_see_waba(principal: Principal, waba: SandboxWaba) -> bool:
    """Business tokens see their target WABAs, system users every WABA shared with their app;
    both lose a WABA once its owner removes the partner."""
    shared = SandboxWabaShare.objects.filter(waba=waba, app=principal.app).exists()
    if not shared:
        return False
    if principal.kind == SandboxToken.Kind.BUSINESS and principal.token is not None:
        return waba.waba_id in principal.token.target_waba_ids
    return principal.kind == SandboxToken.Kind.SYSTEM_USER
