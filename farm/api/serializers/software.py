"""Serializers of the software API: software with ranked versions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from farm.api.fields import (
    URL_SEGMENT_VALIDATOR,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.models import Software, SoftwareVersion
from farm.services.software import MAX_RANK, VersionSpec

# Longest software name and version name (their columns).
SOFTWARE_NAME_LENGTH = Software._meta.get_field("software").max_length
VERSION_LENGTH = SoftwareVersion._meta.get_field("version").max_length

# --- input -------------------------------------------------------------------


class SoftwareVersionInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """One version as a client sends it; validates into a `VersionSpec`."""

    version = StrictCharField(
        trim_whitespace=False,
        max_length=VERSION_LENGTH,
        validators=[URL_SEGMENT_VALIDATOR],
    )
    rank = StrictIntegerField(required=False, bounds=(0, MAX_RANK))
    default = StrictBooleanField(required=False)
    discovery_code = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    discovery_function_name = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length="max_discovery_function_name_length",
    )

    def validate(self, attrs: dict[str, Any]) -> VersionSpec:
        """The version as the service takes it."""
        return VersionSpec(**attrs)


@extend_schema_serializer(exclude_fields=["version"])
class SoftwareInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"software": "blender", "versions": [{"version": "2.79"}, ...]}``.

    The reference's own PUT example spells the list ``version``; that
    spelling is accepted too, but left out of the OpenAPI schema (one of the
    two, never both).
    """

    software = StrictCharField(
        trim_whitespace=False,
        max_length=SOFTWARE_NAME_LENGTH,
        validators=[URL_SEGMENT_VALIDATOR],
    )
    versions = SoftwareVersionInputSerializer(many=True, required=False)
    version = SoftwareVersionInputSerializer(many=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Fold the ``version`` spelling into ``versions``."""
        if "version" in attrs:
            if "versions" in attrs:
                raise serializers.ValidationError(
                    "give the versions as either versions or version, not both"
                )
            attrs["versions"] = attrs.pop("version")
        return attrs


class SoftwarePutSerializer(SoftwareInputSerializer):
    """A PUT body: the name may be left out (it is in the URL)."""

    software = StrictCharField(
        required=False,
        trim_whitespace=False,
        max_length=SOFTWARE_NAME_LENGTH,
        validators=[URL_SEGMENT_VALIDATOR],
    )


# --- output ------------------------------------------------------------------


class SoftwareVersionSerializer(serializers.ModelSerializer):
    """A version in lists: ``{"version", "id", "rank"}``."""

    class Meta:
        model = SoftwareVersion
        fields = ["version", "id", "rank"]
        read_only_fields = fields


class SoftwareVersionDetailSerializer(serializers.ModelSerializer):
    """One version (R13; the agent reads ``discovery_function_name``)."""

    class Meta:
        model = SoftwareVersion
        fields = ["version", "id", "rank", "discovery_function_name"]
        read_only_fields = fields


class SoftwareSerializer(serializers.ModelSerializer):
    """A software with all its versions, lowest rank first."""

    versions = SoftwareVersionSerializer(many=True)

    class Meta:
        model = Software
        fields = ["software", "id", "versions"]
        read_only_fields = fields
