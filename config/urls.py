"""Root URL map: the REST API under /v1/, Meta webhooks, the hosted pages, admin, the sandbox."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("v1/Account/<str:auth_id>/", include("onboarding.urls")),
    path("v1/Account/<str:auth_id>/", include("messaging.urls")),
    path("", include("messaging.webhook_urls")),
    path("", include("onboarding.page_urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))

handler404 = "onboarding.api.errors.not_found"
handler500 = "onboarding.api.errors.server_error"
