"""The Meta simulator: Graph API, signup dialog and webhooks; never imported by production code."""
