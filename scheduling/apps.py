"""The scheduler: assigning tasks to agents and the farm's periodic work."""

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """The scheduler's planner, services and Celery tasks (issue #4)."""

    name = "scheduling"
    verbose_name = "Scheduling"
