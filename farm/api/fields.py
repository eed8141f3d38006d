"""Serializer fields for the legacy wire format."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from farm.choices import parse_choice


class LegacyChoiceField(serializers.Field):
    """A state or enum: written as its name, read as a name or original code.

    ``"running"``, ``"RUNNING"`` and ``105`` are the same work state; the
    original's ``null`` for a queued work state is accepted too.
    """

    def __init__(self, enum: type[models.TextChoices], **kwargs: Any) -> None:
        self.enum = enum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        """The choice's stored value, or a validation error naming the choices."""
        try:
            return parse_choice(self.enum, data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value: str) -> str:
        """The readable name."""
        return str(value)


class LegacyChoiceFieldExtension(OpenApiSerializerFieldExtension):
    """Describes a `LegacyChoiceField` in the OpenAPI schema as its names."""

    target_class = LegacyChoiceField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        """A string enum of the choice's names."""
        return {
            **(build_basic_type(OpenApiTypes.STR) or {}),
            "enum": list(self.target.enum.values),
        }


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans, floats with fractions and numeric strings.

    DRF's IntegerField accepts ``"12"`` and ``True``; the original master
    checked JSON types, and so do we.
    """

    def to_internal_value(self, data: Any) -> int:
        """Only JSON integers (and integral floats such as 2.0)."""
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(int(data))


class StrictCharField(serializers.CharField):
    """A string that refuses numbers and booleans instead of converting them."""

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
