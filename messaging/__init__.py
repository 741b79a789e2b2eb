"""Meta webhooks in, Tech Provider webhooks out, messages and templates; depends on onboarding."""
