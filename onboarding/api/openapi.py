"""OpenAPI description of our Basic auth, for drf-spectacular (loaded by the app config)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TechProviderBasicScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "onboarding.api.auth.TechProviderBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "auth_id as the user name and auth_token as the password.",
        }
