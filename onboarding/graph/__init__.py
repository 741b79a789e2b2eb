"""Meta Graph API client: HTTP and typed records only (no Django models, no retries)."""

from onboarding.graph.client import GraphClient
from onboarding.graph.errors import (
    GraphAuthError,
    GraphError,
    GraphNetworkError,
    GraphPermissionError,
    GraphRateLimitError,
    GraphServerError,
    GraphTransientError,
    GraphUnexpectedResponseError,
    GraphWaitError,
)

__all__ = (
    "GraphAuthError",
    "GraphClient",
    "GraphError",
    "GraphNetworkError",
    "GraphPermissionError",
    "GraphRateLimitError",
    "GraphServerError",
    "GraphTransientError",
    "GraphUnexpectedResponseError",
    "GraphWaitError",
)
