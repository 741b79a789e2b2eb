"""Browser-facing routes of onboarding (the hosted Connect page arrives with its issue)."""

from django.urls import URLPattern

app_name = "pages"

urlpatterns: list[URLPattern] = []
