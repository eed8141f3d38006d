"""Big lists as JSON streamed from the database, with pagination on request.

A job may have a million tasks. Serialising them the usual way (a model
instance or a dict per row, a serializer field call per value, the whole list
and then the whole JSON text in memory) took 51 s and 2.1 GB of the web
server's memory for one answer of 281 MB (issue #8). `list_response` streams
the rows of a ``values_list`` query instead, read from the database in chunks
(a server-side cursor on PostgreSQL) and written out as JSON a chunk at a
time, so memory stays bounded whatever the list's length.

The bytes are the same as `FarmJSONRenderer` would write for the serializer's
answer: the keys, their order and each value come from the serializer's own
fields (`RowFormat`), and each chunk is dumped with the renderer's options.
Values a field would only copy (an int for an ``IntegerField``, a str for a
``CharField``) are copied; the others go through fast equivalents of the
fields' ``to_representation`` (UUIDs, frame numbers, ISO 8601 times), or
through the field itself when there is none. On PostgreSQL the database
writes the UUIDs and times itself, so that rows are used as read.

The lean path (issue #12): no model instance, no serializer and, unless the
answer is indented, no dict per row. A chunk's tuples are dumped as one flat
JSON list and interleaved with the keys, written once
(`RowFormat.json_objects`); the row format of a serializer is built once
(`RowFormat.of`); the cursor of a list's last chunk is closed as soon as it
is read.

Pagination is on request only, the default answer being the full list, as
the original master returned it: ``?limit=N&offset=M`` answers that part of
the list, still a JSON array, with its total length in ``X-Total-Count`` and
the next part's URL in ``Link: <...>; rel="next"`` when there is more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from django.db import connections
from django.db.models import CharField, FloatField, Func, QuerySet
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder

from farm.api.fields import LegacyChoiceField
from farm.api.schema import ErrorSerializer
from farm.api.serializers.jobs import FrameNumberField
from farm.validators import MAX_ID_DIGITS, parse_id

__all__ = [
    "CHUNK_ROWS",
    "PAGINATION_PARAMETERS",
    "PAGINATION_RESPONSE_HEADERS",
    "Page",
    "RowFormat",
    "StreamingJSONResponse",
    "bad_pagination_response",
    "json_array_chunks",
    "list_response",
    "requested_page",
]

#: Rows read from the database and dumped to JSON at a time.
CHUNK_ROWS = 2000

PAGINATION_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 10**MAX_ID_DIGITS - 1},
        OpenApiParameter.QUERY,
        description=(
            "Answer at most this many rows (1 or more). Without ``limit`` and "
            "``offset``, the whole list."
        ),
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": 10**MAX_ID_DIGITS - 1},
        OpenApiParameter.QUERY,
        description="Skip this many rows first (0 or more; default 0).",
    ),
]
PAGINATION_RESPONSE_HEADERS = [
    OpenApiParameter(
        "X-Total-Count",
        int,
        OpenApiParameter.HEADER,
        description="With ``limit`` or ``offset``: the length of the whole list.",
        response=[200],
    ),
    OpenApiParameter(
        "Link",
        str,
        OpenApiParameter.HEADER,
        description=(
            'With ``limit``, when more rows follow: ``<URL>; rel="next"``, the '
            "URL of the next part."
        ),
        response=[200],
    ),
]


def bad_pagination_response() -> OpenApiResponse:
    """The documented 400 of a bad ``limit``, ``offset`` (or filter)."""
    return OpenApiResponse(
        response=ErrorSerializer, description="A bad query parameter."
    )


# --- pagination ----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """The part of a list a request asked for: ``offset`` rows on, ``limit`` rows."""

    offset: int
    limit: int | None


def _query_int(request: Request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    number = parse_id(raw)
    if number is None or number < minimum:
        raise ValidationError(
            {name: f"must be an integer of at least {minimum}, not {raw!r}"}
        )
    return number


def requested_page(request: Request) -> Page | None:
    """``?limit=N&offset=M`` of the request, or None for the whole list.

    400 (a JSON error naming the parameter) for a limit that is not a
    positive integer or an offset that is not a non-negative one.
    """
    limit = _query_int(request, "limit", 1)
    offset = _query_int(request, "offset", 0)
    if limit is None and offset is None:
        return None
    return Page(offset=offset or 0, limit=limit)


def _next_url(request: Request, page: Page) -> str:
    """The request's URL, query included, asking for the part after ``page``."""
    assert page.limit is not None
    query = request.query_params.copy()
    query["offset"] = str(page.offset + page.limit)
    query["limit"] = str(page.limit)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


# --- rows ------------------------------------------------------------------------


class _UTCText(Func):
    """A timestamp as text in UTC, read without making a datetime of it.

    PostgreSQL writes it whole, as ``serializers.DateTimeField`` writes a
    UTC time: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, the fraction left out when
    it is zero (as ``isoformat`` does). SQLite gives the text it stores,
    ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC, which `_ISO_FROM_TEXT`
    finishes.
    """

    output_field = CharField()

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, Any]:
        """``to_char`` of the time in UTC, a zero fraction dropped."""
        template = (
            "replace(to_char(%(expressions)s AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, Any]:
        """The stored text as it is (an expression: the driver then leaves it)."""
        template = "(%(expressions)s || '')"
        return self.as_sql(compiler, connection, template=template, **extra)


class _AsFloat(Cast):
    """A number column cast to a float, left as the driver reads it (a float).

    ``Cast`` would also convert each value with ``float()`` in Python.
    """

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, FloatField())

    @cached_property
    def convert_value(self) -> Callable[..., Any]:
        """No conversion per value."""
        return self._convert_value_noop  # type: ignore[attr-defined]


def _iso_from_sqlite(text: str) -> str:
    return text.replace(" ", "T") + "Z"


#: How the text of `_UTCText` is finished, per vendor (None: it is whole).
_ISO_FROM_TEXT: dict[str, Callable[[str], str] | None] = {
    "postgresql": None,
    "sqlite": _iso_from_sqlite,
}


def _iso_datetime(zone: tzinfo) -> Callable[[datetime], str]:
    """`serializers.DateTimeField` with the ISO 8601 format, in ``zone``."""

    def convert(value: datetime) -> str:
        if timezone.is_aware(value):
            value = value.astimezone(zone)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


#: Fields whose representation of a value the driver gives is the value.
_AS_READ = (
    serializers.IntegerField,
    serializers.CharField,
    serializers.BooleanField,
    serializers.FloatField,
    LegacyChoiceField,
)


def _column(
    field: serializers.Field, source: str, vendor: str
) -> tuple[Any, Callable[[Any], Any] | None]:
    """What to read for ``field`` and how to convert it (None: as read).

    Fast equivalents of ``field.to_representation``, down to the byte, for
    exact field classes (a subclass may represent values its own way); the
    method itself for the others. Frame numbers are read as floats and UTC
    times as text, which the drivers give faster than decimals and datetimes.
    """
    kind = type(field)
    if kind in _AS_READ:
        return source, None
    if kind is FrameNumberField:
        return _AsFloat(source), None
    if kind is serializers.UUIDField and getattr(field, "uuid_format", "") == (
        "hex_verbose"
    ):
        return source, str
    if (
        kind is serializers.DateTimeField
        and getattr(field, "format", api_settings.DATETIME_FORMAT)
        == api_settings.DATETIME_FORMAT
        == "iso-8601"
        and getattr(field, "timezone", None) is None
    ):
        if timezone.get_current_timezone_name() == "UTC" and vendor in _ISO_FROM_TEXT:
            return _UTCText(source), _ISO_FROM_TEXT[vendor]
        return source, _iso_datetime(timezone.get_current_timezone())
    return source, field.to_representation


class RowFormat:
    """A list serializer's rows, from ``values_list`` tuples instead of objects.

    Built from the serializer's fields (once per serializer: `of`): the keys
    in their order, what each reads (its ``source``, cast where that is
    faster) and how its values are converted (`_column`); on PostgreSQL the
    database writes UUIDs and times as the serializer would, so that its rows
    are used as read. ``None`` stays ``None``, as in a serializer. Only plain
    fields are supported: a nested serializer, a method field or a relation
    raises ``TypeError``.
    """

    def __init__(
        self, serializer_class: type[serializers.BaseSerializer], *, vendor: str
    ) -> None:
        serializer = serializer_class()
        keys: list[str] = []
        columns: list[Any] = []
        fixes: list[tuple[str, Callable[[Any], Any]]] = []
        for name, field in serializer.fields.items():  # type: ignore[attr-defined]
            if field.write_only:
                continue
            if isinstance(
                field,
                serializers.BaseSerializer
                | serializers.SerializerMethodField
                | serializers.RelatedField
                | serializers.ManyRelatedField,
            ):
                raise TypeError(f"{serializer_class.__name__}.{name} is not plain")
            column, convert = _column(field, "__".join(field.source_attrs), vendor)
            if (
                vendor == "postgresql"
                and convert is str
                and type(field) is serializers.UUIDField
            ):
                # ``uuid::varchar`` is ``str(UUID)`` (`_column` gives str for
                # hex_verbose only): the rows then need no conversion at all.
                column, convert = Cast(column, CharField()), None
            keys.append(name)
            columns.append(column)
            if convert is not None:
                fixes.append((name, convert))
        self.keys = tuple(keys)
        self.columns = tuple(columns)
        self._fixes = tuple(fixes)
        self._fixed_columns = tuple(
            (keys.index(name), convert) for name, convert in fixes
        )

    @classmethod
    def of(
        cls, serializer_class: type[serializers.BaseSerializer], *, vendor: str
    ) -> RowFormat:
        """The `RowFormat` of ``serializer_class``, built once and then reused.

        Building one instantiates the serializer and its fields; a list
        answer needs the same one every time. Reused while what `_column`
        reads stays the same: the current time zone and DRF's date format.
        """
        key = (
            serializer_class,
            vendor,
            timezone.get_current_timezone_name(),
            api_settings.DATETIME_FORMAT,
        )
        row_format = _ROW_FORMATS.get(key)
        if row_format is None:
            row_format = _ROW_FORMATS[key] = cls(serializer_class, vendor=vendor)
        return row_format

    def rows(self, values: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
        """One dict per ``values_list(*self.columns)`` tuple."""
        return chain.from_iterable(map(self.chunk, _batches(values, CHUNK_ROWS)))

    def chunk(self, values: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """One dict per ``values_list(*self.columns)`` tuple of a chunk."""
        keys = self.keys
        items = [dict(zip(keys, row, strict=True)) for row in values]
        for key, convert in self._fixes:
            for item in items:
                value = item[key]
                if value is not None:
                    item[key] = convert(value)
        return items

    def json_objects(
        self, values: Sequence[tuple[Any, ...]], options: dict[str, Any]
    ) -> str:
        """The rows of a chunk of tuples as ``json.dumps(..., **options)`` writes
        their dicts in a list, without the list's brackets.

        Without indent, no dict is made: the values are dumped as one flat
        list whose item separator (`_VALUE_MARK`) JSON writes nowhere else,
        split there, and interleaved with the keys, written once. The same
        bytes, as long as each value is written without that separator (a
        scalar, or a list or object of at most one item); otherwise (more
        parts than values), and when indented, the dicts are dumped.
        """
        item, colon = options["separators"]
        if options["indent"] is None and self.keys:
            flat = list(chain.from_iterable(values))
            width = len(self.keys)
            for index, convert in self._fixed_columns:
                flat[index::width] = [
                    value if value is None else convert(value)
                    for value in flat[index::width]
                ]
            text = json.dumps(flat, **{**options, "separators": (_VALUE_MARK, colon)})
            parts = text[1:-1].split(_VALUE_MARK)
            if len(parts) == len(flat):
                heads = _object_heads(self.keys, item, colon, options["ensure_ascii"])
                pieces = [""] * (2 * len(parts))
                pieces[0::2] = heads * len(values)
                pieces[1::2] = parts
                # heads[0] closes the row before ("}" and the item separator):
                # there is none before the first row; the last one is closed.
                return "".join(pieces)[1 + len(item) :] + "}"
        tail = 1 if options["indent"] is None else 2
        return json.dumps(self.chunk(values), **options)[1:-tail]

    def queryset_values(
        self,
        queryset: QuerySet[Any],
        page: Page | None = None,
        *,
        server_side: bool = True,
    ) -> Iterator[Sequence[tuple[Any, ...]]]:
        """The ``values_list(*self.columns)`` tuples of ``queryset`` (of its
        ``page``), `CHUNK_ROWS` at a time, unconverted (`chunk` converts).

        ``server_side=False`` reads the rows in one query rather than through
        a server-side cursor (three round trips fewer), holding them all in
        memory at once: only for lists bounded by the farm's size.
        """
        values = queryset.values_list(*self.columns)
        if page is not None:
            end = None if page.limit is None else page.offset + page.limit
            values = values[page.offset : end]
        return _value_chunks(values, CHUNK_ROWS, server_side=server_side)

    def queryset_chunks(
        self, queryset: QuerySet[Any], page: Page | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows of ``queryset`` (of its ``page``), `CHUNK_ROWS` at a time."""
        return map(self.chunk, self.queryset_values(queryset, page))

    def queryset_rows(
        self, queryset: QuerySet[Any], page: Page | None = None
    ) -> Iterator[dict[str, Any]]:
        """The rows of ``queryset`` (of its ``page``), read `CHUNK_ROWS` at a time."""
        return chain.from_iterable(self.queryset_chunks(queryset, page))


#: The item separator `RowFormat.json_objects` dumps a chunk's values with:
#: JSON escapes it (``\\u0000``) inside strings, so it stands only between
#: values.
_VALUE_MARK = "\x00"


@lru_cache(maxsize=64)
def _object_heads(
    keys: tuple[str, ...], item: str, colon: str, ensure_ascii: bool
) -> list[str]:
    """What comes before each value of a row in its JSON object.

    ``}, {"id": `` (the row before closed), then ``, "name": `` for the others.
    """
    written = [json.dumps(key, ensure_ascii=ensure_ascii) + colon for key in keys]
    return ["}" + item + "{" + written[0]] + [item + key for key in written[1:]]


#: `RowFormat.of`'s row formats, by serializer and what `_column` reads.
_ROW_FORMATS: dict[tuple[Any, ...], RowFormat] = {}


def _batches(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(values)
    while batch := list(islice(iterator, size)):
        yield batch


def _value_chunks(
    values: QuerySet[Any], size: int, *, server_side: bool = True
) -> Iterator[Sequence[Any]]:
    """The tuples of a ``values_list`` query, a list of at most ``size`` at a time.

    What ``values.iterator(chunk_size=size)`` reads, the same way (a
    server-side cursor on PostgreSQL unless ``DISABLE_SERVER_SIDE_CURSORS``
    or not ``server_side``, the backend's converters), but a chunk at a time
    as the cursor fetches them, without the iterator's generators per row.
    """
    connection = connections[values.db]
    compiler = values.query.get_compiler(using=values.db)
    results = compiler.execute_sql(
        MULTI,
        chunked_fetch=server_side
        and not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"),
        chunk_size=size,
    )
    converters = None
    for rows in results:
        if converters is None:
            fields = [select[0] for select in compiler.select[: compiler.col_count]]
            converters = compiler.get_converters(fields)
        if converters:
            rows = list(map(tuple, compiler.apply_converters(rows, converters)))
        if len(rows) < size:
            # The last chunk: the cursor is closed now, not when the answer
            # is read to its end (perhaps never), nor after one more FETCH.
            close = getattr(results, "close", None)
            if close is not None:
                close()
            yield rows
            return
        yield rows


# --- JSON ------------------------------------------------------------------------


def json_array_chunks(
    rows: Iterable[dict[str, Any]],
    *,
    renderer: JSONRenderer,
    indent: int | None,
    chunk_rows: int | None = None,
) -> Iterator[bytes]:
    """The JSON array of ``rows``, chunk by chunk, as ``renderer`` writes a list.

    Each chunk of rows is dumped as a list with the renderer's options and
    spliced into the whole: with ``indent``, ``[\\n    {...},\\n    {...}\\n]``;
    without, ``[{...},{...}]``; ``[]`` when empty. Chunks of `CHUNK_ROWS`
    rows unless ``chunk_rows``.
    """
    size = CHUNK_ROWS if chunk_rows is None else chunk_rows
    return _json_array(_batches(rows, size), renderer=renderer, indent=indent)


def _dump_options(renderer: JSONRenderer, indent: int | None) -> dict[str, Any]:
    """The ``json.dumps`` options ``renderer`` writes a list with."""
    if indent is None:
        separators = (",", ":") if renderer.compact else (", ", ": ")
    else:
        separators = (",", ": ")
    return {
        "cls": JSONEncoder,
        "indent": indent,
        "ensure_ascii": renderer.ensure_ascii,
        "allow_nan": not renderer.strict,
        "separators": separators,
    }


def _spliced(texts: Iterable[str], options: dict[str, Any]) -> Iterator[bytes]:
    """The JSON array whose items are ``texts``' (each some items, joined)."""
    separator = options["separators"][0]
    yield b"["
    first = True
    for text in texts:
        if not text:
            continue
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        yield (text if first else separator + text).encode()
        first = False
    yield b"]" if first or options["indent"] is None else b"\n]"


def _json_array(
    chunks: Iterable[list[dict[str, Any]]],
    *,
    renderer: JSONRenderer,
    indent: int | None,
) -> Iterator[bytes]:
    """`json_array_chunks` of rows given a chunk (a list) at a time."""
    options = _dump_options(renderer, indent)
    # A chunk dumped as a list ends with "]", or "\n]" when indented.
    tail = 1 if indent is None else 2
    return _spliced(
        (json.dumps(chunk, **options)[1:-tail] for chunk in chunks if chunk), options
    )


def _json_array_of_values(
    chunks: Iterable[Sequence[tuple[Any, ...]]],
    row_format: RowFormat,
    *,
    renderer: JSONRenderer,
    indent: int | None,
) -> Iterator[bytes]:
    """`_json_array` of ``row_format``'s rows, given as ``values_list`` tuples."""
    options = _dump_options(renderer, indent)
    return _spliced(
        (row_format.json_objects(chunk, options) for chunk in chunks if chunk),
        options,
    )


class StreamingJSONResponse(StreamingHttpResponse):
    """A streamed JSON answer whose ``content`` can still be read whole.

    Reading ``content`` or ``text`` consumes the stream (once; the bytes are
    kept): for tests and for code that needs the whole body. The server
    itself sends the chunks as they come.
    """

    _consumed: bytes | None = None

    @property
    def content(self) -> bytes:  # type: ignore[override]
        """The whole body."""
        if self._consumed is None:
            self._consumed = b"".join(self.streaming_content)  # type: ignore[arg-type]
        return self._consumed

    @property
    def text(self) -> str:  # type: ignore[override]
        """The whole body, decoded."""
        return self.content.decode(self.charset or "utf-8")


def list_response(
    request: Request,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer],
    *,
    server_side: bool = True,
) -> HttpResponseBase:
    """The rows of ``queryset`` as ``serializer_class`` shows them, streamed.

    ``queryset`` must be ordered. With ``?limit``/``?offset`` (`requested_page`)
    only that part, with ``X-Total-Count`` and, when more follows, a ``Link``
    to the next part. The browsable API (HTML) gets a plain `Response`.
    ``server_side=False``: see `RowFormat.queryset_values`.
    """
    page = requested_page(request)
    headers: dict[str, str] = {}
    if page is not None:
        total = queryset.count()
        headers["X-Total-Count"] = str(total)
        if page.limit is not None and page.offset + page.limit < total:
            headers["Link"] = f'<{_next_url(request, page)}>; rel="next"'
    row_format = RowFormat.of(serializer_class, vendor=connections[queryset.db].vendor)
    chunks = row_format.queryset_values(queryset, page, server_side=server_side)
    # The first chunk is read now: a failing query is then answered as an
    # error, not as a list cut short after its status was sent.
    first = next(chunks, [])
    renderer = getattr(request, "accepted_renderer", None)
    if not isinstance(renderer, JSONRenderer):
        rows = chain.from_iterable(map(row_format.chunk, chain([first], chunks)))
        return Response(list(rows), headers=headers)
    indent = renderer.get_indent(request.accepted_media_type, {})
    response = StreamingJSONResponse(
        _json_array_of_values(
            chain([first], chunks), row_format, renderer=renderer, indent=indent
        ),
        content_type=renderer.media_type,
    )
    for name, value in headers.items():
        response[name] = value
    return response
