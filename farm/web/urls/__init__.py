"""URLs of the job dashboard (namespace ``web``), one module per area."""

from django.urls import include, path

from farm.web.urls import (
    account,
    agents,
    catalog,
    jobs,
    logs,
    queues,
    statistics,
    tasks,
)

app_name = "web"

urlpatterns = [
    path("", include(jobs)),
    path("", include(tasks)),
    path("", include(logs)),
    path("", include(agents)),
    path("", include(queues)),
    path("", include(catalog)),
    path("", include(statistics)),
    path("", include(account)),
]
