"""Tech Providers, WABAs, phone numbers, the onboarding pipeline and the EmbeddedSignup API."""
