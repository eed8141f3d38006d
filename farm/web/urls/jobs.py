"""Jobs list and bulk actions on jobs."""

from django.urls import path

from farm.web.views.jobs import job_list, jobs_bulk

urlpatterns = [
    path("jobs/", job_list, name="jobs"),
    path("jobs/bulk/", jobs_bulk, name="jobs_bulk"),
]
