"""Views of the jobtypes API (``/api/v1/jobtypes/...``).

The agent downloads a job type version with ``GET jobtypes/<name>/versions/
<version>`` (agent-protocol.md R4) and insists on ``Content-Type:
application/json`` exactly, which the default renderer sends.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed, NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import AgentPermission
from farm.api.schema import integer_parameter
from farm.api.serializers.jobtypes import (
    JobTypeInputSerializer,
    JobTypeListSerializer,
    JobTypePutSerializer,
    JobTypeSoftwareRequirementSerializer,
    JobTypeVersionSerializer,
    RequirementInputSerializer,
)
from farm.api.views.base import (
    PYTHON_SOURCE,
    AgentReadMixin,
    AnyAcceptNegotiation,
    ColumnTypesView,
    get_by_name_or_id,
    parse_int,
    python_source,
    refuse_number_as_new_name,
)
from farm.api.views.software import find_software
from farm.models import JobType, JobTypeSoftwareRequirement, JobTypeVersion
from farm.services.jobtypes import (
    add_jobtype_software_requirement,
    add_jobtype_version,
    create_jobtype,
    delete_jobtype,
    delete_jobtype_version,
    remove_jobtype_software_requirement,
)

# The column -> SQL type map of ``jobtypes/schema``: the columns of a job type
# and of its versions together, as the original answered them.
JOBTYPE_SCHEMA = {
    "batch_contiguous": "BOOLEAN",
    "classname": "VARCHAR(64)",
    "code": "TEXT",
    "description": "TEXT",
    "fail_body": "TEXT",
    "fail_subject": "TEXT",
    "id": "INTEGER",
    "jobtype_id": "INTEGER",
    "max_batch": "INTEGER",
    "name": "VARCHAR(64)",
    "no_automatic_start_time": "BOOLEAN",
    "success_body": "TEXT",
    "success_subject": "TEXT",
    "supports_tiling": "BOOLEAN",
    "version": "INTEGER",
}

# A version number in a URL (a PositiveIntegerField, from 1).
VERSION_PARAMETER = integer_parameter("version", 1, 2**31 - 1, "A version number.")

# --- lookups -----------------------------------------------------------------


def _versions() -> QuerySet[JobTypeVersion]:
    """Versions with everything their serializer reads, in a fixed query count."""
    return JobTypeVersion.objects.select_related("jobtype").prefetch_related(
        Prefetch(
            "software_requirements",
            queryset=JobTypeSoftwareRequirement.objects.select_related(
                "software", "min_version", "max_version"
            ),
        )
    )


def _jobtype(value: str) -> JobType:
    return get_by_name_or_id(  # type: ignore[return-value]
        JobType.objects.all(), value, name_field="name", label="jobtype"
    )


def _latest_version(jobtype: JobType) -> JobTypeVersion:
    version = jobtype.versions.order_by("-version").first()
    if version is None:
        raise NotFound(f"jobtype {jobtype.name!r} has no versions")
    return version


def _version(jobtype: JobType, value: str) -> JobTypeVersion:
    number = parse_int(value, "version")
    version = jobtype.versions.filter(version=number).first()
    if version is None:
        raise NotFound(f"jobtype {jobtype.name!r} has no version {number}")
    return version


def _output(version: JobTypeVersion, code: int = status.HTTP_200_OK) -> Response:
    """The version, read back with everything its serializer needs."""
    fresh = _versions().get(pk=version.pk)
    return Response(JobTypeVersionSerializer(fresh).data, status=code)


# --- views -------------------------------------------------------------------


class JobTypeListView(GenericAPIView):
    """``GET jobtypes/``: all job types; ``POST``: create one (version 1)."""

    queryset = JobType.objects.order_by("id")
    serializer_class = JobTypeListSerializer

    @extend_schema(
        operation_id="jobtypes_list", responses=JobTypeListSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        """``[{"id": 1, "name": "TestJobType"}]``."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(
        request=JobTypeInputSerializer, responses={201: JobTypeVersionSerializer}
    )
    def post(self, request: Request) -> Response:
        """201 with the new job type; 409 when the name is taken."""
        serializer = JobTypeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition, requirements = serializer.definition()
        version = create_jobtype(
            name=serializer.validated_data["name"],
            definition=definition,
            requirements=requirements or (),
        )
        return _output(version, status.HTTP_201_CREATED)


class JobTypeSchemaView(ColumnTypesView):
    """``GET jobtypes/schema``: the documented column types."""

    columns = JOBTYPE_SCHEMA
    work_id_columns = ("id", "jobtype_id")


class JobTypeDetailView(GenericAPIView):
    """``jobtypes/<name|id>``: the latest version; PUT adds one; DELETE."""

    serializer_class = JobTypeVersionSerializer

    def get(self, request: Request, jobtype: str) -> Response:
        """The latest version of the job type."""
        return _output(_latest_version(_jobtype(jobtype)))

    @extend_schema(
        request=JobTypePutSerializer, responses={201: JobTypeVersionSerializer}
    )
    def put(self, request: Request, jobtype: str) -> Response:
        """A new version (201); creates the job type when the URL names a new one.

        The body replaces the definition; left-out software requirements are
        carried over from the latest version. A number in the URL must be an
        existing job type's id: ids cannot be reserved.
        """
        serializer = JobTypePutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition, requirements = serializer.definition()
        name = serializer.validated_data.get("name")
        try:
            existing: JobType | None = _jobtype(jobtype)
        except NotFound:
            refuse_number_as_new_name(
                jobtype, label="jobtype", create="create a new jobtype"
            )
            existing = None
        if existing is not None:
            version = add_jobtype_version(
                jobtype=existing,
                definition=definition,
                name=name,
                requirements=requirements,
            )
        else:
            if name is not None and name != jobtype:
                raise ValidationError(
                    f"name {name!r} differs from the name in the URL ({jobtype!r})"
                )
            version = create_jobtype(
                name=jobtype, definition=definition, requirements=requirements or ()
            )
        return _output(version, status.HTTP_201_CREATED)

    def delete(self, request: Request, jobtype: str) -> Response:
        """204, whether the job type existed or not; 409 while jobs use it."""
        try:
            found = _jobtype(jobtype)
        except NotFound:
            return Response(status=status.HTTP_204_NO_CONTENT)
        delete_jobtype(jobtype=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobTypeVersionListView(APIView):
    """``GET jobtypes/<name|id>/versions/``: the version numbers, ascending."""

    @extend_schema(
        operation_id="jobtypes_versions_list",
        responses={200: {"type": "array", "items": {"type": "integer"}}},
    )
    def get(self, request: Request, jobtype: str) -> Response:
        """``[1, 2]``."""
        found = _jobtype(jobtype)
        numbers = found.versions.order_by("version").values_list("version", flat=True)
        return Response(list(numbers))


@extend_schema(parameters=[VERSION_PARAMETER])
class JobTypeVersionDetailView(AgentReadMixin, GenericAPIView):
    """``jobtypes/<name|id>/versions/<version>``: the agent's download (R4)."""

    serializer_class = JobTypeVersionSerializer

    def get(self, request: Request, jobtype: str, version: str) -> Response:
        """The version with ``name``, ``version``, ``classname`` and ``code``."""
        return _output(_version(_jobtype(jobtype), version))

    def delete(self, request: Request, jobtype: str, version: str) -> Response:
        """204, whether the version existed or not; 409 while jobs use it."""
        number = parse_int(version, "version")
        try:
            found = _jobtype(jobtype)
        except NotFound:
            return Response(status=status.HTTP_204_NO_CONTENT)
        row = found.versions.filter(version=number).first()
        if row is not None:
            delete_jobtype_version(version=row)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[VERSION_PARAMETER])
class JobTypeCodeView(APIView):
    """``GET jobtypes/<name|id>/versions/<version>/code``: the bare source."""

    permission_classes = [AgentPermission]
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(responses={(200, PYTHON_SOURCE): OpenApiTypes.STR})
    def get(self, request: Request, jobtype: str, version: str) -> HttpResponse:
        """The code as ``text/x-python``; 404 JSON for an unknown version."""
        found = _jobtype(jobtype)
        number = parse_int(version, "version")
        code = (
            found.versions.filter(version=number).values_list("code", flat=True).first()
        )
        if code is None:
            raise NotFound(f"jobtype {found.name!r} has no version {number}")
        return python_source(code)


def _requirements(version: JobTypeVersion) -> QuerySet[JobTypeSoftwareRequirement]:
    return JobTypeSoftwareRequirement.objects.filter(
        jobtype_version=version
    ).select_related(
        "software", "min_version", "max_version", "jobtype_version__jobtype"
    )


class JobTypeRequirementListView(GenericAPIView):
    """``jobtypes/<name|id>[/versions/<version>]/software_requirements/``.

    GET lists the requirements of the latest (or the given) version. POST adds
    one, which makes a new version; on a specific version it is a 405.
    """

    serializer_class = JobTypeSoftwareRequirementSerializer
    filter_backends = []  # no query-string filters

    @extend_schema(
        operation_id="jobtypes_software_requirements_list",
        responses=JobTypeSoftwareRequirementSerializer(many=True),
    )
    def get(
        self, request: Request, jobtype: str, version: str | None = None
    ) -> Response:
        """The requirements, with their software, bounds and version."""
        found = _jobtype(jobtype)
        row = _latest_version(found) if version is None else _version(found, version)
        return Response(self.get_serializer(_requirements(row), many=True).data)

    @extend_schema(
        request=RequirementInputSerializer,
        responses={201: JobTypeSoftwareRequirementSerializer},
    )
    def post(
        self, request: Request, jobtype: str, version: str | None = None
    ) -> Response:
        """201 with the new requirement; 409 when the software is required already."""
        if version is not None:
            raise MethodNotAllowed(
                "POST",
                detail="POST is not allowed on a specific jobtype version; "
                "post to jobtypes/<name>/software_requirements/ instead",
            )
        found = _jobtype(jobtype)
        _latest_version(found)
        serializer = RequirementInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        requirement = add_jobtype_software_requirement(
            jobtype=found, requirement=serializer.validated_data
        )
        return Response(
            self.get_serializer(requirement).data, status=status.HTTP_201_CREATED
        )


@extend_schema(parameters=[VERSION_PARAMETER])
@extend_schema_view(
    get=extend_schema(
        operation_id="jobtypes_versions_software_requirements_list",
        responses=JobTypeSoftwareRequirementSerializer(many=True),
    ),
    # Always a 405 here (requirements are added to the latest version only):
    # no operation to describe.
    post=extend_schema(exclude=True),
)
class JobTypeVersionRequirementListView(JobTypeRequirementListView):
    """``jobtypes/<name|id>/versions/<version>/software_requirements/``.

    `JobTypeRequirementListView` under its own OpenAPI operation id.
    """


class JobTypeRequirementDetailView(GenericAPIView):
    """``jobtypes/<name|id>/software_requirements/<software name|id>``."""

    serializer_class = JobTypeSoftwareRequirementSerializer

    def get(self, request: Request, jobtype: str, software: str) -> Response:
        """The latest version's requirement of that software."""
        found = _jobtype(jobtype)
        latest = _latest_version(found)
        wanted = find_software(software)
        requirement = _requirements(latest).filter(software=wanted).first()
        if requirement is None:
            raise NotFound(
                f"jobtype {found.name!r} does not require software {software!r}"
            )
        return Response(self.get_serializer(requirement).data)

    def delete(self, request: Request, jobtype: str, software: str) -> Response:
        """204; a new version without the requirement, if there was one.

        404 for a job type without a version (nothing to remove it from).
        """
        found = _jobtype(jobtype)
        _latest_version(found)
        try:
            wanted = find_software(software)
        except NotFound:
            return Response(status=status.HTTP_204_NO_CONTENT)
        remove_jobtype_software_requirement(
            jobtype=found,
            software=wanted,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
