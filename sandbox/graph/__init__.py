"""The Graph API simulator: one dispatcher view, handlers per node type, Meta's error envelope."""
