"""Serializers of the jobtypes API: definitions in, versions out."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound

from farm.api.fields import (
    POSITIVE_INTEGER_RANGE,
    URL_NAME_VALIDATOR,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.api.serializers.software import SOFTWARE_NAME_LENGTH, VERSION_LENGTH
from farm.models import (
    JobType,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Software,
    SoftwareVersion,
)
from farm.services.jobtypes import JobTypeDefinition, Requirement

# --- input -------------------------------------------------------------------


class RequirementInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"software": "blender", "min_version": "2.69", "max_version": null}``.

    Validates into a `Requirement`; an unknown software or version is a 404,
    as in the original.
    """

    software = StrictCharField(trim_whitespace=False, max_length=SOFTWARE_NAME_LENGTH)
    min_version = StrictCharField(
        required=False,
        allow_null=True,
        trim_whitespace=False,
        max_length=VERSION_LENGTH,
    )
    max_version = StrictCharField(
        required=False,
        allow_null=True,
        trim_whitespace=False,
        max_length=VERSION_LENGTH,
    )

    def validate(self, attrs: dict[str, Any]) -> Requirement:
        """Look up the software and its versions by name."""
        name = attrs["software"]
        software = Software.objects.filter(software=name).first()
        if software is None:
            raise NotFound(f"software {name!r} not found")
        bounds: dict[str, SoftwareVersion | None] = {}
        for bound in ("min_version", "max_version"):
            value = attrs.get(bound)
            bounds[bound] = None
            if value is not None:
                bounds[bound] = software.versions.filter(version=value).first()
                if bounds[bound] is None:
                    raise NotFound(f"version {value!r} of software {name!r} not found")
        return Requirement(software=software, **bounds)


class JobTypeInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """A job type's definition as POSTed to ``jobtypes/``."""

    name = StrictCharField(
        trim_whitespace=False,
        max_length="job_type_max_name_length",
        validators=[URL_NAME_VALIDATOR],
    )
    code = StrictCharField(trim_whitespace=False)
    description = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    classname = StrictCharField(
        required=False,
        allow_null=True,
        trim_whitespace=False,
        max_length="job_type_max_class_name_length",
    )
    max_batch = StrictIntegerField(
        required=False, allow_null=True, bounds=(1, POSITIVE_INTEGER_RANGE[1])
    )
    batch_contiguous = StrictBooleanField(required=False)
    no_automatic_start_time = StrictBooleanField(required=False)
    supports_tiling = StrictBooleanField(required=False)
    success_subject = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    success_body = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    fail_subject = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    fail_body = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    software_requirements = RequirementInputSerializer(many=True, required=False)

    def definition(self) -> tuple[JobTypeDefinition, list[Requirement] | None]:
        """The validated body as (definition, requirements).

        The requirements are None when the body leaves them out.
        """
        data = dict(self.validated_data)
        data.pop("name", None)
        requirements = data.pop("software_requirements", None)
        return JobTypeDefinition(**data), requirements


class JobTypePutSerializer(JobTypeInputSerializer):
    """A PUT body: the name may be left out (it is in the URL)."""

    name = StrictCharField(
        required=False,
        trim_whitespace=False,
        max_length="job_type_max_name_length",
        validators=[URL_NAME_VALIDATOR],
    )


# --- output ------------------------------------------------------------------


class JobTypeListSerializer(serializers.ModelSerializer):
    """One entry of ``GET jobtypes/``."""

    class Meta:
        model = JobType
        fields = ["id", "name"]
        read_only_fields = fields


class FlatRequirementSerializer(serializers.ModelSerializer):
    """A requirement inside a job type version: names and ids side by side."""

    software = serializers.CharField(source="software.software")
    min_version = serializers.CharField(
        source="min_version.version", default=None, allow_null=True, read_only=True
    )
    max_version = serializers.CharField(
        source="max_version.version", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = JobTypeSoftwareRequirement
        fields = [
            "software",
            "software_id",
            "min_version",
            "min_version_id",
            "max_version",
            "max_version_id",
        ]
        read_only_fields = fields


class JobTypeVersionSerializer(serializers.ModelSerializer):
    """A job type at one version, as the agent downloads it (R4).

    ``id`` is the job type's id, as in the original, and the job type's own
    columns (name, description, notification texts) sit next to the
    version's.
    """

    id = serializers.IntegerField(source="jobtype.id")
    name = serializers.CharField(source="jobtype.name")
    description = serializers.CharField(source="jobtype.description", allow_null=True)
    success_subject = serializers.CharField(
        source="jobtype.success_subject", allow_null=True
    )
    success_body = serializers.CharField(source="jobtype.success_body", allow_null=True)
    fail_subject = serializers.CharField(source="jobtype.fail_subject", allow_null=True)
    fail_body = serializers.CharField(source="jobtype.fail_body", allow_null=True)
    software_requirements = FlatRequirementSerializer(many=True)

    class Meta:
        model = JobTypeVersion
        fields = [
            "id",
            "name",
            "description",
            "version",
            "classname",
            "code",
            "max_batch",
            "batch_contiguous",
            "no_automatic_start_time",
            "supports_tiling",
            "success_subject",
            "success_body",
            "fail_subject",
            "fail_body",
            "software_requirements",
        ]
        read_only_fields = fields


class _SoftwareRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Software
        fields = ["software", "id"]
        read_only_fields = fields


class _SoftwareVersionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = SoftwareVersion
        fields = ["version", "id"]
        read_only_fields = fields


class _JobTypeVersionRefSerializer(serializers.ModelSerializer):
    """``{"jobtype": <name>, "version": <n>}``: a version by its natural key."""

    jobtype = serializers.CharField(source="jobtype.name")

    class Meta:
        model = JobTypeVersion
        fields = ["jobtype", "version"]
        read_only_fields = fields


class JobTypeSoftwareRequirementSerializer(serializers.ModelSerializer):
    """A requirement on its own (``jobtypes/<name>/software_requirements/``)."""

    software = _SoftwareRefSerializer()
    min_version = _SoftwareVersionRefSerializer(allow_null=True)
    max_version = _SoftwareVersionRefSerializer(allow_null=True)
    jobtype_version = _JobTypeVersionRefSerializer()

    class Meta:
        model = JobTypeSoftwareRequirement
        fields = ["software", "min_version", "max_version", "jobtype_version"]
        read_only_fields = fields
