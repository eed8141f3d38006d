"""The farm's admin, one module per area; importing them registers the admins."""

from django.contrib import admin

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
