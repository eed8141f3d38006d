"""Shared serializer behaviour: unknown keys are errors, as in the original."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictSerializerMixin:
    """Refuse keys the serializer does not know (the original answered 400)."""

    def to_internal_value(self, data: Any) -> Any:
        """Reject non-objects and unknown keys, then validate as usual."""
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["expected a JSON object"]}
            )
        writable = {
            name
            for name, field in self.fields.items()  # type: ignore[attr-defined]
            if not field.read_only
        }
        unknown = sorted(set(data) - writable)
        if unknown:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        f"unknown or read-only columns: {', '.join(unknown)}"
                    ]
                }
            )
        return super().to_internal_value(data)  # type: ignore[misc]
