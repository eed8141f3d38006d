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


class FarmJSONParser(_Limited, JSONParser):
    """JSON bodies, refused above ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        """Parse the body; an empty body is an empty object (GETs carry none)."""
        self.check_size(parser_context)
        return super().parse(stream, media_type, parser_context)


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
