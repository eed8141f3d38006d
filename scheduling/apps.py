"""The scheduler: assigning tasks to agents and the farm's periodic work."""

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """The scheduler's planner, services and Celery tasks (issue #4)."""

    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        """Tick after the farm's events that free work or agents, and after outages.

        Queue the completion mails of jobs that ended; stop the tasks taken
        back from their agents.
        """
        from farm.signals import jobs_ended, tasks_to_stop, work_changed
        from pyfarm_site.celery import app
        from scheduling import recovery
        from scheduling.notifications import on_jobs_ended
        from scheduling.tasks.stopping import on_tasks_to_stop
        from scheduling.triggers import on_work_changed

        work_changed.connect(on_work_changed, dispatch_uid="scheduling.triggers")
        jobs_ended.connect(on_jobs_ended, dispatch_uid="scheduling.notifications")
        tasks_to_stop.connect(on_tasks_to_stop, dispatch_uid="scheduling.stopping")
        recovery.connect(app)
