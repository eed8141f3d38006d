"""The task log viewer."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("tasks/<int:task_id>/logs/", pending, name="task_logs"),
]
