"""Request body parsers of the API."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser


class _Limited:
    """Refuses bodies over ``limit`` bytes before reading them."""

    limit_setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"

    def check_size(self, parser_context: Any) -> None:
        request = parser_context["request"]
        limit = getattr(settings, self.limit_setting)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ParseError("invalid Content-Length") from None
        if limit is not None and length > limit:
            from farm.api.exceptions import PayloadTooLarge

            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")


# Containers (objects and arrays) nested deeper than this are refused: far
# more than any request of the API needs, and far from Python's recursion
# limit, which the JSON decoder, the serializers, the database adapter and
# the renderer each approach when they walk a value.
MAX_JSON_DEPTH = 100


# Where a value sits in the document: (parent's place, key or index).
_Place = tuple[Any, str | int] | None


def _where(place: _Place) -> str:
    """``data.frames[2]`` for the place of a value; "" at the top."""
    parts: list[str] = []
    while place is not None:
        place, key = place
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts)).lstrip(".")


def json_value_error(data: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why the parsed JSON ``data`` cannot be accepted, or None.

    Refuses nesting deeper than ``max_depth``, and strings (values and keys)
    with NUL characters or unpaired surrogates (``"\\ud800"``), which no
    database text column or JSON document stores. The message names where
    the value is (``data.shots[2]``). Walks the value without recursion.
    """
    stack: list[tuple[Any, int, _Place]] = [(data, 0, None)]
    while stack:
        value, depth, place = stack.pop()
        if isinstance(value, str):
            if error := _string_error(value):
                return _at(error, place)
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                return f"JSON nested more than {max_depth} levels deep"
            if isinstance(value, dict):
                for key, item in value.items():
                    if error := _string_error(key):
                        return _at(f"{error} in a key", place)
                    stack.append((item, depth + 1, (place, key)))
            else:
                stack.extend(
                    (item, depth + 1, (place, index))
                    for index, item in enumerate(value)
                )
    return None


def _at(error: str, place: _Place) -> str:
    where = _where(place)
    return f"{where}: {error}" if where else error


def _string_error(text: str) -> str | None:
    if "\x00" in text:
        return "JSON strings must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "JSON strings must not contain unpaired surrogates"
    return None


class FarmJSONParser(_Limited, JSONParser):
    """JSON bodies, refused above ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

    Also refused (400): nesting beyond `MAX_JSON_DEPTH` and strings that no
    database stores (`json_value_error`), on every JSON endpoint, before any
    view sees the data.
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        """Parse the body; an empty body is an empty object (GETs carry none)."""
        self.check_size(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep"
            ) from None
        if error := json_value_error(data):
            raise ParseError(f"JSON parse error - {error}")
        return data


class RawBodyParser(BaseParser):
    """Any content type, handed over as the raw stream (log and update uploads).

    The view reads the stream itself, in chunks, so that large files never sit
    in memory.
    """

    media_type = "*/*"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        """Return the stream unread."""
        return stream
