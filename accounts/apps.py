"""Users and roles of the farm."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, roles, login and the first-run setup page."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
