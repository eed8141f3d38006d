"""Views of the software API (``/api/v1/software/...``).

The agent (HEAD, R13 and R14) reads one version and its discovery code when
the master asks it to check for a software.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import AgentPermission
from farm.api.serializers.software import (
    SoftwareInputSerializer,
    SoftwarePutSerializer,
    SoftwareSerializer,
    SoftwareVersionDetailSerializer,
    SoftwareVersionInputSerializer,
    SoftwareVersionSerializer,
)
from farm.api.views.base import (
    PYTHON_SOURCE,
    AgentReadMixin,
    AnyAcceptNegotiation,
    ColumnTypesView,
    get_by_name_or_id,
    python_source,
    refuse_number_as_new_name,
)
from farm.models import Software, SoftwareVersion
from farm.services.software import (
    add_software_version,
    create_software,
    delete_software,
    delete_software_version,
    update_software,
)

# The column -> SQL type map the original documents for ``software/schema``.
SOFTWARE_SCHEMA = {"id": "INTEGER", "software": "VARCHAR(64)"}


def _with_versions() -> QuerySet[Software]:
    return Software.objects.prefetch_related("versions")


def find_software(value: str, queryset: QuerySet[Software] | None = None) -> Software:
    """The software whose id or name is ``value``, or 404."""
    return get_by_name_or_id(  # type: ignore[return-value]
        queryset if queryset is not None else Software.objects.all(),
        value,
        name_field="software",
        label="software",
    )


def _version(software: Software, value: str) -> SoftwareVersion:
    version = software.versions.filter(version=value).first()
    if version is None:
        raise NotFound(f"software {software.software!r} has no version {value!r}")
    return version


def _output(software: Software, code: int = status.HTTP_200_OK) -> Response:
    fresh = _with_versions().get(pk=software.pk)
    return Response(SoftwareSerializer(fresh).data, status=code)


class SoftwareListView(GenericAPIView):
    """``GET software/``: every software with its versions; ``POST``: create."""

    queryset = Software.objects.prefetch_related("versions").order_by("id")
    serializer_class = SoftwareSerializer

    @extend_schema(
        operation_id="software_list", responses=SoftwareSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        """``[{"software": "Houdini", "id": 1, "versions": [...]}]``."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(request=SoftwareInputSerializer, responses={201: SoftwareSerializer})
    def post(self, request: Request) -> Response:
        """201 with the new software; 409 when the name is taken."""
        serializer = SoftwareInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        software = create_software(
            name=data["software"], versions=data.get("versions", ())
        )
        return _output(software, status.HTTP_201_CREATED)


class SoftwareSchemaView(ColumnTypesView):
    """``GET software/schema``: the documented column types."""

    columns = SOFTWARE_SCHEMA


class SoftwareDetailView(GenericAPIView):
    """``software/<name|id>``: GET, PUT (create or replace) and DELETE."""

    serializer_class = SoftwareSerializer

    def get(self, request: Request, software: str) -> Response:
        """The software with its versions."""
        return Response(
            self.get_serializer(find_software(software, _with_versions())).data
        )

    @extend_schema(
        request=SoftwarePutSerializer,
        responses={200: SoftwareSerializer, 201: SoftwareSerializer},
    )
    def put(self, request: Request, software: str) -> Response:
        """200 for an update (renames allowed), 201 for a new software.

        With a list of versions, it becomes the software's list. A new
        software's name must be the one in the URL; a number in the URL must
        be an existing software's id (ids cannot be reserved).
        """
        serializer = SoftwarePutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            existing: Software | None = find_software(software)
        except NotFound:
            refuse_number_as_new_name(
                software, label="software", create="create new software"
            )
            existing = None
        if existing is not None:
            updated = update_software(
                software=existing,
                name=data.get("software", existing.software),
                versions=data.get("versions"),
            )
            return _output(updated)
        if data.get("software", software) != software:
            raise ValidationError(
                "the name of new software must be the one in the URL "
                f"({software!r}), not {data['software']!r}"
            )
        created = create_software(name=software, versions=data.get("versions", ()))
        return _output(created, status.HTTP_201_CREATED)

    def delete(self, request: Request, software: str) -> Response:
        """204, whether it existed or not; 409 while jobs or job types need it."""
        try:
            found = find_software(software)
        except NotFound:
            return Response(status=status.HTTP_204_NO_CONTENT)
        delete_software(software=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SoftwareVersionListView(GenericAPIView):
    """``software/<name|id>/versions/``: list (lowest rank first) and add."""

    serializer_class = SoftwareVersionSerializer
    filter_backends = []  # no query-string filters

    @extend_schema(
        operation_id="software_versions_list",
        responses=SoftwareVersionSerializer(many=True),
    )
    def get(self, request: Request, software: str) -> Response:
        """``[{"version": "2013", "id": 1, "rank": 100}, ...]``."""
        found = find_software(software)
        return Response(self.get_serializer(found.versions.all(), many=True).data)

    @extend_schema(
        request=SoftwareVersionInputSerializer,
        responses={201: SoftwareVersionSerializer},
    )
    def post(self, request: Request, software: str) -> Response:
        """201 with the version; without a rank it ranks above all others."""
        found = find_software(software)
        serializer = SoftwareVersionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = add_software_version(software=found, spec=serializer.validated_data)
        return Response(
            self.get_serializer(version).data, status=status.HTTP_201_CREATED
        )


class SoftwareVersionDetailView(AgentReadMixin, GenericAPIView):
    """``software/<name|id>/versions/<version>``: GET (R13) and DELETE."""

    serializer_class = SoftwareVersionDetailSerializer

    def get(self, request: Request, software: str, version: str) -> Response:
        """The version, with its ``discovery_function_name``."""
        return Response(
            self.get_serializer(_version(find_software(software), version)).data
        )

    def delete(self, request: Request, software: str, version: str) -> Response:
        """204, whether the version existed or not; 404 for unknown software."""
        found = find_software(software)
        row = found.versions.filter(version=version).first()
        if row is not None:
            delete_software_version(version=row)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SoftwareDiscoveryCodeView(APIView):
    """``software/<name|id>/versions/<version>/discovery_code`` (and ``/code``).

    The agent execs this source and calls ``discovery_function_name`` (R14).
    """

    permission_classes = [AgentPermission]
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(responses={(200, PYTHON_SOURCE): OpenApiTypes.STR})
    def get(self, request: Request, software: str, version: str) -> HttpResponse:
        """The source as ``text/x-python``; 404 JSON when there is none."""
        found = find_software(software)
        row = _version(found, version)
        if not row.discovery_code:
            raise NotFound(
                f"version {version!r} of software {found.software!r} has no "
                "discovery code"
            )
        return python_source(row.discovery_code)
