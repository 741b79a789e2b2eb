"""Sandbox routes under /sandbox/ (mounted only when SANDBOX_ENABLED)."""

from django.urls import URLPattern

app_name = "sandbox"

urlpatterns: list[URLPattern] = []
