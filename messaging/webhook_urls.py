"""Routes Meta calls: the app-level webhook and the per-WABA callback URLs."""

from django.urls import URLPattern

app_name = "webhooks"

urlpatterns: list[URLPattern] = []
