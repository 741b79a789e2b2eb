"""The sandbox's control API: JSON endpoints for tests and scripts (dev only, no auth)."""
