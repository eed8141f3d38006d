"""The scheduler: assigning tasks to agents and the farm's periodic work."""

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """The scheduler's planner, services and Celery tasks (issue #4)."""

    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        """Tick after the farm's events and outages; stop the tasks taken back."""
        from farm.signals import tasks_to_stop, work_changed
        from pyfarm_site.celery import app
        from scheduling import recovery
        from scheduling.tasks.stopping import on_tasks_to_stop
        from scheduling.triggers import on_work_changed

        work_changed.connect(on_work_changed, dispatch_uid="scheduling.triggers")
        tasks_to_stop.connect(on_tasks_to_stop, dispatch_uid="scheduling.stopping")
        recovery.connect(app)
