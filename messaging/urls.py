"""REST routes of messaging under /v1/Account/<auth_id>/ (messages, templates, deliveries)."""

from django.urls import URLPattern

app_name = "messaging"

urlpatterns: list[URLPattern] = []
