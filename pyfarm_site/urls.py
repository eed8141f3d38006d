"""URL configuration of the master."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView

from farm.api.exceptions import json_not_found, json_server_error

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="index"),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path(settings.API_PREFIX, include("farm.api.urls")),
    path("health/", include("scheduling.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.lstrip("/").startswith(settings.API_PREFIX)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON under the API (the agent cannot read HTML), Django's page elsewhere."""
    if _is_api(request):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """JSON under the API, Django's page elsewhere."""
    if _is_api(request):
        return json_server_error(request)
    return defaults.server_error(request)
