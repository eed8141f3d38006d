"""A job's page, its actions and its tasks."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("jobs/<int:job_id>/", pending, name="job"),
]
