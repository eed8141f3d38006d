"""URLs of the jobs API: jobs, their tasks, notified users and failed agents.

The paths keep the original's trailing-slash forms; where its documentation
spells a path both ways, both are accepted. ``jobs/schema`` comes before the
name-or-id paths, so a job titled "schema" is reached by its id.
"""

from django.urls import path

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

_TASK = "jobs/<str:job>/tasks/<str:task_id>"

urlpatterns = [
    path("jobs/", JobIndexView.as_view(), name="job-index"),
    path("jobs", JobIndexView.as_view()),
    path("jobs/schema", JobSchemaView.as_view(), name="job-schema"),
    path("jobs/schema/", JobSchemaView.as_view()),
    path("jobs/<str:job>", SingleJobView.as_view(), name="job-detail"),
    path("jobs/<str:job>/", SingleJobView.as_view()),
    path("jobs/<str:job>/tasks/", JobTasksIndexView.as_view(), name="job-tasks"),
    path("jobs/<str:job>/tasks", JobTasksIndexView.as_view()),
    path(_TASK, SingleTaskView.as_view(), name="job-task-detail"),
    path(f"{_TASK}/", SingleTaskView.as_view()),
    path(
        f"{_TASK}/failed_on_agents/",
        TaskFailedOnAgentsIndexView.as_view(),
        name="job-task-failed-on-agents",
    ),
    path(f"{_TASK}/failed_on_agents", TaskFailedOnAgentsIndexView.as_view()),
    path(
        f"{_TASK}/failed_on_agents/<str:agent_id>",
        SingleTaskOnAgentFailureView.as_view(),
        name="job-task-failed-on-agent",
    ),
    path(
        f"{_TASK}/failed_on_agents/<str:agent_id>/",
        SingleTaskOnAgentFailureView.as_view(),
    ),
    path(
        "jobs/<str:job>/notified_users/",
        JobNotifiedUsersIndexView.as_view(),
        name="job-notified-users",
    ),
    path("jobs/<str:job>/notified_users", JobNotifiedUsersIndexView.as_view()),
    path(
        "jobs/<str:job>/notified_users/<str:username>",
        JobSingleNotifiedUserView.as_view(),
        name="job-notified-user",
    ),
    path(
        "jobs/<str:job>/notified_users/<str:username>/",
        JobSingleNotifiedUserView.as_view(),
    ),
]
