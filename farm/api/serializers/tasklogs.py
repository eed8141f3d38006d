"""Serializers of the task log endpoints (agent-protocol.md R5, R7)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

from farm.api.fields import LegacyChoiceField, StrictCharField, StrictUUIDField
from farm.api.serializers.base import StrictSerializerMixin
from farm.choices import WorkState
from farm.models import TaskLog
from farm.services.logs import validate_log_identifier


class TaskLogSerializer(serializers.ModelSerializer[TaskLog]):
    """A log's metadata: registration (R5), single GET and state POST (R7)."""

    agent_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = TaskLog
        fields = ["id", "identifier", "created_on", "agent_id"]
        read_only_fields = fields


class TaskLogListItemSerializer(serializers.ModelSerializer[TaskLog]):
    """A log in the list of one task attempt's logs (no id, as documented)."""

    agent_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = TaskLog
        fields = ["agent_id", "created_on", "identifier"]
        read_only_fields = fields


# A plain file name (`validate_log_identifier`): no separators, no "..", no
# control characters, no leading dot.
LOG_IDENTIFIER = RegexValidator(
    r"\A[^./\\\x00-\x1f\x7f](?:\.?[^./\\\x00-\x1f\x7f])*\.?\Z",
    "must be a plain file name",
)


class TaskLogRegistrationSerializer(StrictSerializerMixin, serializers.Serializer):
    """R5: ``{"identifier": "<log-id>.csv", "agent_id": "<agent-uuid>"}``."""

    identifier = StrictCharField(
        trim_whitespace=False,
        max_length=TaskLog._meta.get_field("identifier").max_length,
        validators=[LOG_IDENTIFIER],
        error_messages={"max_length": "is longer than {max_length} characters"},
    )
    agent_id = StrictUUIDField(required=False, allow_null=True, default=None)

    def validate_identifier(self, value: str) -> str:
        """A plain file name: no separators, no "..", no control characters."""
        try:
            return validate_log_identifier(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                error.message_dict["identifier"]
            ) from None


class TaskLogStateSerializer(StrictSerializerMixin, serializers.Serializer):
    """R7: ``{"state": "running" | "done" | "failed" | "queued"}``."""

    state = LegacyChoiceField(WorkState)
