"""The farm's domain: agents, jobs, tasks, queues, software, tags and logs."""

from django.apps import AppConfig


class FarmConfig(AppConfig):
    """Models, services and admin of the render farm."""

    name = "farm"
    verbose_name = "Farm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the checks, the SQL echo switch and the post-migrate ANALYZE."""
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from farm import checks  # noqa: F401  (registers the system checks)
        from farm.services.planner import analyze_after_migrate
        from pyfarm_site.conf import farm_config

        post_migrate.connect(
            analyze_after_migrate, sender=self, dispatch_uid="farm_analyze"
        )

        if farm_config("echo_sql"):
            connection_created.connect(_echo_sql, dispatch_uid="farm_echo_sql")


def _echo_sql(sender: object, connection: object, **kwargs: object) -> None:
    """Make Django log every statement even outside DEBUG (``echo_sql``)."""
    connection.force_debug_cursor = True  # type: ignore[attr-defined]
