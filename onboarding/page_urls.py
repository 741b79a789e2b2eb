"""Browser-facing routes of onboarding: the hosted Connect page and its small JSON endpoints."""

from django.urls import path

from onboarding import views

app_name = "pages"

urlpatterns = [
    path("connect/csp-report/", views.csp_report, name="csp-report"),
    path("connect/<str:public_id>/", views.connect_page, name="connect"),
    path(
        "connect/<str:public_id>/signup/",
        views.ConnectSubmitApi.as_view(),
        name="connect-submit",
    ),
    path(
        "connect/<str:public_id>/status/<str:status_token>/",
        views.ConnectStatusApi.as_view(),
        name="connect-status",
    ),
]
