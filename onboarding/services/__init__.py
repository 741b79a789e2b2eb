"""Every write to onboarding state, one module per sub-domain."""
