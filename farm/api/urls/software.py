"""URLs of the software API, spelled out as the original has them.

``<software>`` is a name or an id, ``<version>`` a version's name.
"""

from django.urls import URLPattern, path, re_path

from farm.api.views.software import (
    SoftwareDetailView,
    SoftwareDiscoveryCodeView,
    SoftwareListView,
    SoftwareSchemaView,
    SoftwareVersionDetailView,
    SoftwareVersionListView,
)

_SOFTWARE = r"^software/(?P<software>[^/]+)"
_VERSION = _SOFTWARE + r"/versions/(?P<version>[^/]+)"

urlpatterns: list[URLPattern] = [
    path("software/", SoftwareListView.as_view(), name="api-software-list"),
    re_path(
        r"^software/schema/?$", SoftwareSchemaView.as_view(), name="api-software-schema"
    ),
    re_path(_SOFTWARE + r"$", SoftwareDetailView.as_view(), name="api-software-detail"),
    re_path(
        _SOFTWARE + r"/versions/$",
        SoftwareVersionListView.as_view(),
        name="api-software-version-list",
    ),
    re_path(
        _VERSION + r"$",
        SoftwareVersionDetailView.as_view(),
        name="api-software-version-detail",
    ),
    # The reference documents /code; the agent (R14) asks for /discovery_code.
    re_path(
        _VERSION + r"/code$",
        SoftwareDiscoveryCodeView.as_view(),
        name="api-software-version-code",
    ),
    re_path(
        _VERSION + r"/discovery_code$",
        SoftwareDiscoveryCodeView.as_view(),
        name="api-software-version-discovery-code",
    ),
]
