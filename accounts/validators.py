"""Validators of the accounts app's fields."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from pyfarm_site.conf import farm_config


@deconstructible
class ConfiguredMaxLength:
    """Refuse a value longer than the configuration key ``key`` allows.

    The key (``max_username_length``, ``max_email_length``,
    ``max_role_length`` of models.yml) is read at each call, so the
    operator's value applies on every path that validates the field: forms,
    the admin, ``createsuperuser``, the setup page and the API's
    ``full_clean``. The column's own size is the upper bound (farm.E002).
    """

    code = "max_length"

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, value: Any) -> None:
        limit = int(farm_config(self.key))
        length = len(str(value))
        if length > limit:
            raise ValidationError(
                "Ensure this value has at most %(limit)d characters "
                "(it has %(length)d; %(key)s).",
                code=self.code,
                params={"limit": limit, "length": length, "key": self.key},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfiguredMaxLength) and other.key == self.key

    def __hash__(self) -> int:
        return hash((type(self), self.key))
