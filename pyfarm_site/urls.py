"""URL configuration of the master."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import csrf, defaults

from farm.api.exceptions import (
    json_bad_request,
    json_csrf_failure,
    json_not_found,
    json_permission_denied,
    json_server_error,
)
from farm.api.paths import is_api_path
from farm.web.views.home import index

urlpatterns = [
    path("", index, name="index"),
    path("", include("accounts.urls")),
    path("", include("farm.web.urls")),
    path("admin/", admin.site.urls),
    path(settings.API_PREFIX, include("farm.api.urls")),
    path("health/", include("scheduling.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return is_api_path(request.path)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON under the API, Django's page elsewhere."""
    if _is_api(request):
        return json_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON under the API, Django's page elsewhere."""
    if _is_api(request):
        return json_permission_denied(request, exception)
    return defaults.permission_denied(request, exception)


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


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: JSON under the API, Django's page elsewhere."""
    if _is_api(request):
        return json_csrf_failure(request, reason)
    return csrf.csrf_failure(request, reason)
