"""URLs of the scheduling app, mounted at ``/health/``."""

from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.health, name="health"),
]
