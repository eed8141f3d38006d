"""URLs of the task log API (agent-protocol.md R5, R7, R8).

The job, task and attempt parts take any segment so that the views answer a
JSON 404 naming what is wrong; the identifier takes anything, slashes
included, so that path tricks are refused (400) rather than routed.
"""

from django.urls import re_path

from farm.api.views.tasklogs import (
    TaskAttemptLogfileView,
    TaskAttemptLogsView,
    TaskAttemptLogView,
)

_ATTEMPT = (
    r"^jobs/(?P<job_id>[^/]+)/tasks/(?P<task_id>[^/]+)"
    r"/attempts/(?P<attempt>[^/]+)/logs"
)

urlpatterns = [
    re_path(_ATTEMPT + r"/?$", TaskAttemptLogsView.as_view(), name="task-attempt-logs"),
    re_path(
        _ATTEMPT + r"/(?P<identifier>.+)/logfile/?$",
        TaskAttemptLogfileView.as_view(),
        name="task-attempt-logfile",
    ),
    re_path(
        _ATTEMPT + r"/(?P<identifier>.+?)/?$",
        TaskAttemptLogView.as_view(),
        name="task-attempt-log",
    ),
]
