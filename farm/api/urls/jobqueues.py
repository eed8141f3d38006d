"""URLs of the job queue API, with and without trailing slashes.

A queue is named by id, name or full path; the path's slashes are part of
the URL (``jobqueues/root/child``), so the last pattern takes the rest.
"""

from django.urls import re_path

from farm.api.views.jobqueues import (
    JobQueueIndexView,
    JobQueueSchemaView,
    JobQueueView,
)

urlpatterns = [
    re_path(r"^jobqueues/?$", JobQueueIndexView.as_view(), name="jobqueues"),
    re_path(
        r"^jobqueues/schema/?$", JobQueueSchemaView.as_view(), name="jobqueue-schema"
    ),
    re_path(r"^jobqueues/(?P<queue>.+)$", JobQueueView.as_view(), name="jobqueue"),
]
