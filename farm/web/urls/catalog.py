"""Job groups, job types and software: lists and pages."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("groups/", pending, name="jobgroups"),
    path("groups/<int:group_id>/", pending, name="jobgroup"),
    path("jobtypes/", pending, name="jobtypes"),
    path("jobtypes/<int:jobtype_id>/", pending, name="jobtype"),
    path("software/", pending, name="software_list"),
    path("software/<int:software_id>/", pending, name="software"),
]
