"""URL configuration of the master."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="index"),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
