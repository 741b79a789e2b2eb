"""The Meta simulator: Graph API, Embedded Signup dialog and webhooks; never imported by prod code."""
