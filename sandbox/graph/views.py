"""The Graph API simulator's one view: route, apply faults, authenticate, handle, log.

Every call is logged (SandboxCall), whatever happens to it. Faults apply before the handler
(error, latency, and timeout or drop without effect) or after it (timeout or drop with effect:
the call took effect and only the answer is lost).
"""

import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import clock, ids
from sandbox.graph.errors import GraphError, missing_object
from sandbox.graph.nodes import find_node
from sandbox.graph.request import GraphRequest, read_params
from sandbox.graph.routes import FIXED, NODE, Route, endpoint_for_unknown
from sandbox.services import dispatch
from sandbox.services.bootstrap import sandbox_bootstrap
from sandbox.services.calls import call_record
from sandbox.services.faults import AppliedFault, fault_take

logger = logging.getLogger(__name__)
TOKENLESS = frozenset({"oauth.access_token"})  # authenticated by client_id and client_secret


@dataclass
class Outcome:
    status: int | None = None  # None: the connection was dropped
    body: Any = None
    fault: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Resolved:
    """What a path names: an endpoint, maybe a node, maybe an error to answer with."""

    def __init__(self, method: str, path: str) -> None:
        self.route: Route | None = None
        self.node: Any = None
        self.node_id = ""
        self.edge = ""
        self.error: GraphError | None = None
        segments = [s for s in path.strip("/").split("/") if s]
        fixed = FIXED.get(("/".join(segments), method))
        if fixed is not None:
            self.route = fixed
        elif 1 <= len(segments) <= 2:
            self._node(method, segments)
        else:
            self.error = GraphError(2500, f"Unknown path components: /{'/'.join(segments[2:])}")

    def _node(self, method: str, segments: list[str]) -> None:
        self.node_id = segments[0]
        self.edge = segments[1] if len(segments) == 2 else ""
        found = find_node(self.node_id)
        if found is None:
            self.error = missing_object(self.node_id, method)
            return
        kind, self.node = found
        self.route = NODE.get((kind, self.edge, method))
        if self.route is None:
            edges = {edge for (k, edge, _m) in NODE if k == kind}
            self.error = (
                missing_object(self.node_id, method)
                if self.edge in edges
                else GraphError(2500, f"Unknown path components: /{self.edge}")
            )


@csrf_exempt
def graph(request: HttpRequest, path: str, version: str = "") -> HttpResponse:
    started = time.monotonic()
    received_at = clock.now()
    trace = ids.new_fbtrace_id()
    method = (request.method or "GET").upper()
    sandbox_bootstrap()
    dispatch.start()  # its first pass delivers anything left over from before a restart
    resolved = Resolved(method, path)
    endpoint = (
        resolved.route.endpoint if resolved.route else endpoint_for_unknown(resolved.edge, method)
    )
    req = GraphRequest(
        request,
        method,
        version or settings.GRAPH_API_VERSION,
        path,
        resolved.node_id,
        resolved.edge,
        {},
    )
    outcome = _run(request, req, resolved, endpoint, trace)
    principal = req.principal
    call_record(
        received_at=received_at,
        method=method,
        endpoint=endpoint,
        path=request.path,
        version=version,
        object_id=resolved.node_id,
        params=req.params,
        token_kind=principal.kind if principal else "",
        token_hint=principal.hint if principal else "",
        status_code=outcome.status,
        response=outcome.body,
        fbtrace_id=trace,
        fault=outcome.fault,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return _respond(request, outcome, trace)


def _run(
    request: HttpRequest, req: GraphRequest, resolved: Resolved, endpoint: str, trace: str
) -> Outcome:
    fault = fault_take(endpoint=endpoint, object_id=resolved.node_id)
    outcome = Outcome(fault=fault.describe() if fault else "")
    if fault is not None and not fault.with_effect and _apply(fault, request, outcome, trace):
        _read_params_quietly(request, req)
        return outcome
    try:
        req.params, req.files = read_params(request)
        if resolved.route is None or resolved.route.endpoint not in TOKENLESS:
            req.authenticate()  # as at Meta: who is asking comes before what was asked
        if resolved.error is not None:
            raise resolved.error
        if resolved.route is None:
            raise missing_object(resolved.node_id, req.method)
        outcome.status, outcome.body = 200, resolved.route.handler(req, resolved.node)
    except GraphError as exc:
        outcome.status, outcome.body = exc.http_status, exc.envelope(trace)
        if exc.code == 190:
            reason = exc.message.replace('"', "'")
            outcome.headers["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{reason}"'
            )
    except Exception:  # a simulator bug must still answer in Meta's shape
        logger.exception("sandbox graph handler failed")
        outcome.status, outcome.body = 500, GraphError(1).envelope(trace)
    if fault is not None and fault.with_effect:
        _apply(fault, request, outcome, trace)
    return outcome


def _read_params_quietly(request: HttpRequest, req: GraphRequest) -> None:
    """Parameters for the call log of a call a fault answered."""
    try:
        req.params, req.files = read_params(request)
    except GraphError:
        req.params = {}


def _apply(fault: AppliedFault, request: HttpRequest, outcome: Outcome, trace: str) -> bool:
    """Apply a fault; True when it decides the answer (the handler's, if any, is replaced)."""
    if fault.latency_ms and fault.kind in ("latency", "error"):
        time.sleep(fault.latency_ms / 1000)
    if fault.kind == "latency":
        return False
    if fault.kind == "error":
        error = GraphError(
            fault.error_code or 1,
            fault.error_message or None,
            subcode=fault.error_subcode,
            http_status=fault.http_status,
        )
        outcome.status, outcome.body = error.http_status, error.envelope(trace)
        outcome.headers.clear()
    elif fault.kind == "timeout":
        time.sleep(
            fault.latency_ms / 1000 if fault.latency_ms else settings.SANDBOX_TIMEOUT_FAULT_S
        )
        if not fault.with_effect:  # what a client with a longer timeout would finally see
            outcome.status, outcome.body = 503, GraphError(2).envelope(trace)
    elif _client_socket(request) is not None:  # closed once the call is logged
        outcome.status, outcome.body = None, None
    else:  # no socket to close (Django's test client): the closest thing is an empty 502
        outcome.status, outcome.body = 502, None
    return True


def _client_socket(request: HttpRequest) -> socket.socket | None:
    """The client's socket under gunicorn, runserver or live_server (None: the test client)."""
    sock = request.META.get("gunicorn.socket")
    if sock is None:
        stream = request.META.get("wsgi.input")
        # Django's dev and live servers wrap the socket's reader in a LimitedStream.
        reader = getattr(getattr(stream, "_read", None), "__self__", stream)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _drop_connection(request: HttpRequest) -> None:
    """Close the connection without an answer."""
    sock = _client_socket(request)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _respond(request: HttpRequest, outcome: Outcome, trace: str) -> HttpResponse:
    if outcome.status is None:
        _drop_connection(request)
        return HttpResponse(status=204)  # never sent: the socket is closed
    if outcome.body is None:
        response = HttpResponse(status=outcome.status)
    else:
        response = JsonResponse(outcome.body, status=outcome.status, safe=False)
    response["x-fb-trace-id"] = trace
    response["facebook-api-version"] = settings.GRAPH_API_VERSION
    for name, value in outcome.headers.items():
        response[name] = value
    return response
