"""Workflows of the farm that touch several objects, one module per area.

API views, admin actions, dashboard views, commands and Celery tasks all call
these functions; none of them re-implements a workflow.
"""

from farm.services.agents import (
    disable_agents,
    enable_agents,
    request_agent_restart,
    requeue_agent_tasks,
)
from farm.services.jobs import (
    alter_frame_range,
    frame_range,
    mark_jobs_for_deletion,
    pause_jobs,
    refresh_job_states,
    rerun_jobs,
    unpause_jobs,
    with_dependent_jobs,
)
from farm.services.submission import create_job
from farm.services.tasks import UNSET, rerun_tasks, update_task

__all__ = [
    "UNSET",
    "alter_frame_range",
    "create_job",
    "disable_agents",
    "enable_agents",
    "frame_range",
    "mark_jobs_for_deletion",
    "pause_jobs",
    "refresh_job_states",
    "request_agent_restart",
    "requeue_agent_tasks",
    "rerun_jobs",
    "rerun_tasks",
    "unpause_jobs",
    "update_task",
    "with_dependent_jobs",
]
