"""The farm's users and their roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

__all__ = ["Role", "User"]

# Roles with every right on the farm, as the original's "root"/"admin".
ADMIN_ROLES = frozenset({"root", "admin"})


class Role(models.Model):
    """A named set of users; disabled or expired roles lock their users out."""

    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    expiration = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "roles"
        ordering = ["name"]
        verbose_name = "role"

    def __str__(self) -> str:
        return self.name

    def is_active(self) -> bool:
        """Whether the role is enabled and not expired."""
        return self.active and (
            self.expiration is None or self.expiration > timezone.now()
        )


class User(AbstractUser):
    """A person who submits and watches jobs, or administers the farm.

    On top of Django's user: an ``expiration`` after which the account can no
    longer log in, a ``onetime_code`` for password-reset style links, and
    roles. A user with an inactive role cannot log in; the ``root`` and
    ``admin`` roles make a user a farm admin.
    """

    username = models.CharField(
        max_length=255,
        unique=True,
        validators=[AbstractUser.username_validator],
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField(max_length=255, blank=True)
    expiration = models.DateTimeField(null=True, blank=True)
    onetime_code = models.CharField(max_length=64, null=True, blank=True)
    roles = models.ManyToManyField(
        Role, blank=True, related_name="users", db_table="user_roles"
    )

    class Meta:
        db_table = "users"
        ordering = ["username"]
        verbose_name = "user"

    def __str__(self) -> str:
        return self.username

    def is_expired(self) -> bool:
        """Whether the account's expiration has passed."""
        return self.expiration is not None and self.expiration <= timezone.now()

    def can_log_in(self) -> bool:
        """Active, not expired, and every one of its roles active."""
        if not self.is_active or self.is_expired():
            return False
        return all(role.is_active() for role in self.roles.all())

    def has_roles(
        self, allowed: set[str] | None = None, required: set[str] | None = None
    ) -> bool:
        """Whether the user has one of ``allowed`` and all of ``required`` roles."""
        names = {role.name for role in self.roles.all() if role.is_active()}
        if allowed and not names & set(allowed):
            return False
        return not (required and not set(required) <= names)

    @property
    def is_farm_admin(self) -> bool:
        """Superusers and users with an admin role may change anything."""
        return self.is_superuser or self.has_roles(allowed=set(ADMIN_ROLES))
