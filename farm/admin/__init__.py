"""The farm's admin, one module per area; importing them registers the admins.

The index lists the farm's main models. Rows that only link or describe
another object (an agent's MAC addresses and disks, a job's requirements and
notified users, a job type version's requirements, the tasks of a log) have
no page of their own: they are edited as inlines of that object.
"""

from django.contrib import admin
from django.urls import reverse_lazy

from farm.admin import (  # noqa: F401
    agents,
    jobs,
    jobtypes,
    logs,
    queues,
    software,
    statistics,
    tags,
    tasks,
)

admin.site.site_header = "PyFarm administration"
admin.site.site_title = "PyFarm"
admin.site.index_title = "Render farm"
# "View site" leads to the dashboard (the jobs list), not back into the admin.
# Lazy: the URLs are not loaded yet when the admin modules are imported (the
# stubs expect a plain str; templates take either).
admin.site.site_url = reverse_lazy("web:jobs")  # type: ignore[assignment]
