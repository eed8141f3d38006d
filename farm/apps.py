"""The farm's domain: agents, jobs, tasks, queues, software, tags and logs."""

from django.apps import AppConfig


class FarmConfig(AppConfig):
    """Models, services and admin of the render farm."""

    name = "farm"
    verbose_name = "Farm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the configuration checks and the SQL echo switch."""
        from django.db.backends.signals import connection_created

        from farm import checks  # noqa: F401  (registers the system checks)
        from pyfarm_site.conf import farm_config

        if farm_config("echo_sql"):
            connection_created.connect(_echo_sql, dispatch_uid="farm_echo_sql")


def _echo_sql(sender: object, connection: object, **kwargs: object) -> None:
    """Make Django log every statement even outside DEBUG (``echo_sql``)."""
    connection.force_debug_cursor = True  # type: ignore[attr-defined]
