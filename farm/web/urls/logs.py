"""The task log viewer: the page, its tail -f, and the whole file."""

from django.urls import path

from farm.web.views.logs import task_log_download, task_log_more, task_logs

urlpatterns = [
    path("tasks/<int:task_id>/logs/", task_logs, name="task_logs"),
    path(
        "tasks/<int:task_id>/logs/<int:log_id>/more/",
        task_log_more,
        name="task_log_more",
    ),
    path(
        "tasks/<int:task_id>/logs/<int:log_id>/download/",
        task_log_download,
        name="task_log_download",
    ),
]
