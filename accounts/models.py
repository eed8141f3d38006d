"""The farm's users and their roles."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.validators import ConfiguredMaxLength

__all__ = ["ApiToken", "Role", "User"]

# Roles with every right on the farm, as the original's "root"/"admin".
ADMIN_ROLES = frozenset({"root", "admin"})


class Role(models.Model):
    """A named set of users; disabled or expired roles lock their users out."""

    name = models.CharField(
        max_length=128,
        unique=True,
        validators=[ConfiguredMaxLength("max_role_length")],
    )
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
        validators=[
            AbstractUser.username_validator,
            ConfiguredMaxLength("max_username_length"),
        ],
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField(
        max_length=255,
        blank=True,
        validators=[ConfiguredMaxLength("max_email_length")],
    )
    expiration = models.DateTimeField(null=True, blank=True)
    onetime_code = models.CharField(max_length=64, null=True, blank=True)
    roles = models.ManyToManyField(
        Role, blank=True, related_name="users", db_table="user_roles"
    )
    # The user's defaults for the jobs they are told about (`JobNotifiedUser`
    # has the same three flags, with the same defaults).
    notify_on_success = models.BooleanField(
        "notify on success", default=True, help_text="Email when a job succeeds."
    )
    notify_on_failure = models.BooleanField(
        "notify on failure", default=True, help_text="Email when a job fails."
    )
    notify_on_deletion = models.BooleanField(
        "notify on deletion", default=False, help_text="Email when a job is deleted."
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


# Keys are this prefix and a random part; DRF's own tokens (40 hex digits)
# never start with it, so each key goes to one authentication class only.
API_KEY_PREFIX = "pfk_"
# What of a key is kept in clear, to tell a user's keys apart.
API_KEY_SHOWN_CHARS = len(API_KEY_PREFIX) + 8
# "Last used" is written at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_digest(key: str) -> str:
    """The SHA-256 of a key (hex): what is stored, and looked up, instead of it.

    The keys are long random strings, so a plain hash (no salt, no slow key
    derivation) is enough: it cannot be reversed or guessed.
    """
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenManager(models.Manager["ApiToken"]):
    """Lookups of tokens by their key."""

    def for_key(self, key: str) -> ApiToken | None:
        """The token of ``key`` with its user, or None for an unknown key."""
        return self.select_related("user").filter(digest=api_key_digest(key)).first()


class ApiToken(models.Model):
    """A named API key of a user (``Authorization: Token <key>``).

    Only the key's SHA-256 ``digest`` is stored: the key itself is shown once,
    when the token is created (`accounts.services.create_token`), and never
    again. ``prefix`` (the key's first characters) tells a user's keys apart.
    Revoking a token deletes it. ``last_used`` is kept to the minute
    (`mark_used`), not written on every request.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_SHOWN_CHARS, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenManager()

    class Meta:
        db_table = "api_tokens"
        ordering = ["-created", "-pk"]
        verbose_name = "API token"
        # The user's own tokens on the account page come through the FK's index;
        # the key's lookup through the unique digest's.

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def mark_used(self) -> bool:
        """Record that the token was used now, at most once a minute.

        A conditional UPDATE, so that requests arriving together write the
        row once; nothing is written when the loaded value is recent enough.
        Returns whether the row was written.
        """
        now = timezone.now()
        stale = now - LAST_USED_RESOLUTION
        if self.last_used is not None and self.last_used > stale:
            return False
        written = (
            type(self)
            .objects.filter(pk=self.pk)
            .filter(Q(last_used__isnull=True) | Q(last_used__lte=stale))
            .update(last_used=now)
        )
        if written:
            self.last_used = now
        return bool(written)

    mark_used.alters_data = True  # type: ignore[attr-defined]
