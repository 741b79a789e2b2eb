"""REST API plumbing shared by every /v1/ endpoint: auth, error shape, idempotency, paging."""
