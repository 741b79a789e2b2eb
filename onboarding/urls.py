"""REST routes of onboarding, under /v1/Account/<auth_id>/."""

from django.urls import path

from onboarding import apis

app_name = "onboarding"

urlpatterns = [
    path("WhatsApp/EmbeddedSignup/", apis.EmbeddedSignupApi.as_view(), name="embedded-signup"),
    path(
        "WhatsApp/EmbeddedSignup/<str:waba_id>/",
        apis.EmbeddedSignupDetailApi.as_view(),
        name="embedded-signup-detail",
    ),
    path(
        "WhatsApp/EmbeddedSignup/<str:waba_id>/Retry/",
        apis.EmbeddedSignupRetryApi.as_view(),
        name="embedded-signup-retry",
    ),
]
