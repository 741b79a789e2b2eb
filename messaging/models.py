"""Messaging data (webhook events, deliveries, messages, templates) arrives with its issues."""
