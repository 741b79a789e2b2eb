"""One route: the reference ingest view."""

from django.urls import path

from bench.refsite import views

urlpatterns = [path("webhooks/meta/", views.ingest)]
