"""Domain errors of onboarding; the API turns them into `{"api_id", "error"}` bodies."""

from django.conf import settings


def platform_name() -> str:
    return str(settings.PLATFORM_NAME)


class OnboardingError(Exception):
    """Base: `message` is safe to show to a Tech Provider; `status` is the HTTP status."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(OnboardingError):
    """A request parameter is missing or malformed (400)."""


class SignupRejected(InvalidRequest):
    """The EmbeddedSignup request is invalid or conflicts with what we already have (400)."""


class MpsInactive(SignupRejected):
    """The Tech Provider's Multi-Partner Solution is not active."""


class WabaAlreadyRegistered(SignupRejected):
    """The WABA is already onboarded (by any Tech Provider)."""


class PhoneNumberTaken(SignupRejected):
    """The phone number belongs to another WABA."""


class AccountForbidden(OnboardingError):
    """The account may not use this API (403)."""

    status = 403


class NotFound(OnboardingError):
    status = 404


class InvalidTransition(OnboardingError):
    """An onboarding or step cannot move from its status to the one asked (409)."""

    status = 409
