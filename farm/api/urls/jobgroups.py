"""URLs of the job group API, with and without trailing slashes."""

from django.urls import re_path

from farm.api.views.jobgroups import (
    JobGroupIndexView,
    JobGroupJobsView,
    JobGroupSchemaView,
    JobGroupView,
)

urlpatterns = [
    re_path(r"^jobgroups/?$", JobGroupIndexView.as_view(), name="jobgroups"),
    re_path(
        r"^jobgroups/schema/?$", JobGroupSchemaView.as_view(), name="jobgroup-schema"
    ),
    re_path(
        r"^jobgroups/(?P<group_id>[0-9]{1,18})/?$",
        JobGroupView.as_view(),
        name="jobgroup",
    ),
    re_path(
        r"^jobgroups/(?P<group_id>[0-9]{1,18})/jobs/?$",
        JobGroupJobsView.as_view(),
        name="jobgroup-jobs",
    ),
]
