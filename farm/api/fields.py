"""Serializer fields for the legacy wire format.

Every integer field of the API states its bounds (`StrictIntegerField`), so
that validation never depends on the database: a value outside an integer
column's range is a 400 on SQLite as on PostgreSQL, and the OpenAPI schema
shows the range. A bound, like a string's maximum length, is a number or the
configuration key (models.yml, master.yml) that holds it; keys are read when a
value is checked and when the schema is generated, so both follow the
configuration in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import validators
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from farm.choices import parse_choice
from pyfarm_site.conf import farm_config

# The ranges of the integer column types, as PostgreSQL stores them (SQLite
# would store more): IntegerField, PositiveIntegerField, BigIntegerField and
# the ids of rows (BigAutoField).
INTEGER_RANGE = (-(2**31), 2**31 - 1)
POSITIVE_INTEGER_RANGE = (0, 2**31 - 1)
BIG_INTEGER_RANGE = (-(2**63), 2**63 - 1)
ID_RANGE = (1, 2**63 - 1)

Bound = int | str
"""A limit: a number, or the configuration key that holds it."""

# A name that is one segment of the API's URLs (job types, software and their
# versions): no path separator, no "..", no NUL; see `url_segment_error`.
URL_SEGMENT_VALIDATOR = validators.RegexValidator(
    r"\A(?![\s\S]*\.\.)[^/\\\x00]*\Z",
    "must not contain path separators, '..' or NUL characters",
)
# A string that is not blank (only whitespace) and holds no NUL.
NON_BLANK = validators.RegexValidator(
    r"\A[^\x00]*[^\s\x00][^\x00]*\Z", "must not be blank"
)
# A user's name (`User.username`), as the users a job or group names may be
# created from it.
USERNAME = UnicodeUsernameValidator()
# A URL segment, for a name that must not be blank either (a job type's).
URL_NAME_VALIDATOR = validators.RegexValidator(
    r"\A(?![\s\S]*\.\.)(?=[\s\S]*\S)[^/\\\x00]*\Z",
    "must not be blank, nor contain path separators, '..' or NUL characters",
)


def resolve(bound: Bound) -> int | Callable[[], int]:
    """A number as it is; a configuration key as a callable reading it.

    Django's value and length validators, and drf-spectacular, call a
    callable limit each time they need it.
    """
    if isinstance(bound, int):
        return bound
    return lambda: int(farm_config(bound))


class LegacyChoiceField(serializers.Field):
    """A state or enum: written as its name, read as a name or original code.

    ``"running"``, ``"RUNNING"`` and ``105`` are the same work state; the
    original's ``null`` for a queued work state is accepted too. ``accepted``
    narrows the choices a request may give (a task is never set to
    "paused"); the schema lists those only.
    """

    default_error_messages = {
        "not_accepted": "{value!r} is not accepted here; use one of: {accepted}"
    }

    def __init__(
        self,
        enum: type[models.TextChoices],
        *,
        accepted: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.enum = enum
        self.accepted = (
            tuple(enum.values) if accepted is None else tuple(map(str, accepted))
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        """The choice's stored value, or a validation error naming the choices."""
        try:
            value = parse_choice(self.enum, data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None
        if value not in self.accepted:
            self.fail("not_accepted", value=value, accepted=", ".join(self.accepted))
        return value

    def to_representation(self, value: str) -> str:
        """The readable name."""
        return str(value)


class LegacyChoiceFieldExtension(OpenApiSerializerFieldExtension):
    """Describes a `LegacyChoiceField` in the OpenAPI schema as its names."""

    target_class = LegacyChoiceField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        """A string enum of the choice's names (those accepted, in requests)."""
        field = self.target
        names = list(field.enum.values if field.read_only else field.accepted)
        return {
            **(build_basic_type(OpenApiTypes.STR) or {}),
            "enum": [*names, None] if field.allow_null else names,
        }


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans, floats with fractions and numeric strings.

    DRF's IntegerField accepts ``"12"`` and ``True``; the original master
    checked JSON types, and so do we. ``bounds`` (lowest, highest) is
    required: the column's range (`INTEGER_RANGE`...) or the configured one.
    """

    def __init__(self, *, bounds: tuple[Bound, Bound], **kwargs: Any) -> None:
        low, high = bounds
        super().__init__(**kwargs)
        self.validators.extend(
            [
                validators.MinValueValidator(resolve(low)),
                validators.MaxValueValidator(resolve(high)),
            ]
        )

    def to_internal_value(self, data: Any) -> int:
        """Only JSON integers (and integral floats such as 2.0)."""
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(int(data))


class StrictCharField(serializers.CharField):
    """A string that refuses numbers and booleans instead of converting them.

    ``max_length`` may be a configuration key (``"max_tag_length"``).
    """

    def __init__(self, *, max_length: Bound | None = None, **kwargs: Any) -> None:
        if isinstance(max_length, int):
            super().__init__(max_length=max_length, **kwargs)
        else:
            super().__init__(**kwargs)
        if isinstance(max_length, str):
            self.validators.append(validators.MaxLengthValidator(resolve(max_length)))

    def to_internal_value(self, data: Any) -> str:
        """Only JSON strings."""
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only (DRF also takes "yes", 1, "on")."""

    def to_internal_value(self, data: Any) -> bool:
        """Only ``true`` and ``false``."""
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictFloatField(serializers.FloatField):
    """A JSON number; refuses strings and booleans instead of converting them."""

    def to_internal_value(self, data: Any) -> float:
        """Only JSON numbers."""
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string (DRF would also turn integers into UUIDs)."""

    def to_internal_value(self, data: Any) -> Any:
        """Only strings in one of the usual UUID spellings."""
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def scheduling_fields() -> tuple[
    StrictIntegerField, StrictIntegerField, StrictIntegerField, StrictIntegerField
]:
    """New ``priority``, ``weight``, ``minimum_agents``, ``maximum_agents`` fields.

    What jobs and job queues alike give the scheduler, all optional (the
    agents' bounds may be null). A serializer unpacks them where it lists
    them, which keeps its order of fields::

        priority, weight, minimum_agents, maximum_agents = scheduling_fields()
    """
    return (
        StrictIntegerField(
            required=False, bounds=("queue_min_priority", "queue_max_priority")
        ),
        StrictIntegerField(required=False, bounds=POSITIVE_INTEGER_RANGE),
        StrictIntegerField(
            required=False, allow_null=True, bounds=POSITIVE_INTEGER_RANGE
        ),
        StrictIntegerField(
            required=False, allow_null=True, bounds=POSITIVE_INTEGER_RANGE
        ),
    )
