"""Jobs list and bulk actions on jobs."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("jobs/", pending, name="jobs"),
    path("jobs/bulk/", pending, name="jobs_bulk"),
]
