"""URLs of the jobs API: jobs, their tasks, notified users and failed agents.

The paths keep the original's trailing-slash forms, and the other spelling
is accepted too (left out of the OpenAPI description). ``jobs/schema`` comes
before the name-or-id paths, so a job titled "schema" is reached by its id.
"""

from farm.api.urls.base import legacy_paths
from farm.api.views.explain import JobExplainView
from farm.api.views.jobs import (
    JobIndexView,
    JobNotifiedUsersIndexView,
    JobSchemaView,
    JobSingleNotifiedUserView,
    JobTasksIndexView,
    SingleJobView,
    SingleTaskOnAgentFailureView,
    SingleTaskView,
    TaskFailedOnAgentsIndexView,
)
from farm.api.views.progress import JobTaskCountsView

_TASK = "jobs/<str:job>/tasks/<str:task_id>"

urlpatterns = [
    *legacy_paths("jobs/", JobIndexView, "job-index"),
    *legacy_paths("jobs/schema", JobSchemaView, "job-schema"),
    *legacy_paths("jobs/<str:job>", SingleJobView, "job-detail"),
    *legacy_paths("jobs/<str:job>/tasks/", JobTasksIndexView, "job-tasks"),
    *legacy_paths("jobs/<str:job>/explain", JobExplainView, "job-explain"),
    *legacy_paths("jobs/<str:job>/task_counts", JobTaskCountsView, "job-task-counts"),
    *legacy_paths(_TASK, SingleTaskView, "job-task-detail"),
    *legacy_paths(
        f"{_TASK}/failed_on_agents/",
        TaskFailedOnAgentsIndexView,
        "job-task-failed-on-agents",
    ),
    *legacy_paths(
        f"{_TASK}/failed_on_agents/<str:agent_id>",
        SingleTaskOnAgentFailureView,
        "job-task-failed-on-agent",
    ),
    *legacy_paths(
        "jobs/<str:job>/notified_users/",
        JobNotifiedUsersIndexView,
        "job-notified-users",
    ),
    *legacy_paths(
        "jobs/<str:job>/notified_users/<str:username>",
        JobSingleNotifiedUserView,
        "job-notified-user",
    ),
]
