"""URLs of the jobtypes API, spelled out as the original has them.

``<jobtype>`` is a name or an id; ``schema`` comes first so that it is never
taken for a job type's name.
"""

from django.urls import URLPattern, path, re_path

from farm.api.views.jobtypes import (
    JobTypeCodeView,
    JobTypeDetailView,
    JobTypeListView,
    JobTypeRequirementDetailView,
    JobTypeRequirementListView,
    JobTypeSchemaView,
    JobTypeVersionDetailView,
    JobTypeVersionListView,
    JobTypeVersionRequirementListView,
)

_JOBTYPE = r"^jobtypes/(?P<jobtype>[^/]+)"
_VERSION = _JOBTYPE + r"/versions/(?P<version>[^/]+)"

urlpatterns: list[URLPattern] = [
    path("jobtypes/", JobTypeListView.as_view(), name="api-jobtype-list"),
    re_path(
        r"^jobtypes/schema/?$", JobTypeSchemaView.as_view(), name="api-jobtype-schema"
    ),
    re_path(_JOBTYPE + r"$", JobTypeDetailView.as_view(), name="api-jobtype-detail"),
    re_path(
        _JOBTYPE + r"/versions/$",
        JobTypeVersionListView.as_view(),
        name="api-jobtype-version-list",
    ),
    re_path(
        _VERSION + r"$",
        JobTypeVersionDetailView.as_view(),
        name="api-jobtype-version-detail",
    ),
    re_path(
        _VERSION + r"/code$", JobTypeCodeView.as_view(), name="api-jobtype-version-code"
    ),
    re_path(
        _JOBTYPE + r"/software_requirements/$",
        JobTypeRequirementListView.as_view(),
        name="api-jobtype-requirement-list",
    ),
    re_path(
        _VERSION + r"/software_requirements/$",
        JobTypeVersionRequirementListView.as_view(),
        name="api-jobtype-version-requirement-list",
    ),
    re_path(
        _JOBTYPE + r"/software_requirements/(?P<software>[^/]+)$",
        JobTypeRequirementDetailView.as_view(),
        name="api-jobtype-requirement-detail",
    ),
]
