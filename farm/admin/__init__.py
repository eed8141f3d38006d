"""The farm's admin, one module per area; importing them registers the admins."""

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

from django.contrib import admin  # noqa: E402

admin.site.site_header = "PyFarm administration"
admin.site.site_title = "PyFarm"
admin.site.index_title = "Render farm"
