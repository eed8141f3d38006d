"""Job groups, job types and software: lists, pages and the admins' actions."""

from django.urls import path

from farm.web.views import catalog, catalog_software

urlpatterns = [
    path("groups/", catalog.jobgroups, name="jobgroups"),
    path("groups/<int:group_id>/", catalog.jobgroup, name="jobgroup"),
    path("jobtypes/", catalog.jobtypes, name="jobtypes"),
    path("jobtypes/new/", catalog.jobtype_create, name="jobtype_create"),
    path("jobtypes/<int:jobtype_id>/", catalog.jobtype, name="jobtype"),
    path(
        "jobtypes/<int:jobtype_id>/delete/",
        catalog.jobtype_delete,
        name="jobtype_delete",
    ),
    path(
        "jobtypes/<int:jobtype_id>/requirements/",
        catalog.jobtype_requirement_add,
        name="jobtype_requirement_add",
    ),
    path(
        "jobtypes/<int:jobtype_id>/requirements/<int:software_id>/remove/",
        catalog.jobtype_requirement_remove,
        name="jobtype_requirement_remove",
    ),
    path(
        "jobtypes/<int:jobtype_id>/notifications/",
        catalog.jobtype_notifications,
        name="jobtype_notifications",
    ),
    path("software/", catalog_software.software_list, name="software_list"),
    path("software/add/", catalog_software.software_add, name="software_add"),
    path("software/<int:software_id>/", catalog_software.software, name="software"),
    path(
        "software/<int:software_id>/delete/",
        catalog_software.software_delete,
        name="software_delete",
    ),
    path(
        "software/<int:software_id>/versions/",
        catalog_software.software_version_add,
        name="software_version_add",
    ),
    path(
        "software/<int:software_id>/versions/<int:version_id>/delete/",
        catalog_software.software_version_delete,
        name="software_version_delete",
    ),
    path(
        "software/<int:software_id>/versions/<int:version_id>/rank/",
        catalog_software.software_version_rank,
        name="software_version_rank",
    ),
    path(
        "software/<int:software_id>/versions/<int:version_id>/default/",
        catalog_software.software_version_default,
        name="software_version_default",
    ),
]
