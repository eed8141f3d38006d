"""A job's page, its actions, its tasks and their logs."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("jobs/<int:job_id>/", pending, name="job"),
    path("tasks/<int:task_id>/logs/", pending, name="task_logs"),
]
