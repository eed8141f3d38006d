"""Requests refused before any view sees them (`RequestGuardMiddleware`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from farm.api.paths import is_api_path

# Control characters (C0 and DEL): never part of a URL of the site.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def nul_error(request: HttpRequest) -> str | None:
    """Why the request carries a NUL character, or None.

    No database text column stores NUL (PostgreSQL refuses them outright), so
    a name in a URL, a query parameter or a header value containing one can
    only fail further on.
    """
    if "\x00" in request.path:
        return "the URL must not contain NUL characters (%00)"
    # Most requests (every agent's) have no query string: nothing to parse.
    if request.META.get("QUERY_STRING"):
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return "query parameters must not contain NUL characters (%00)"
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            return "headers must not contain NUL characters"
    return None


class RequestGuardMiddleware:
    """Refuses requests no view can answer sensibly, before they reach one.

    - Under the API, a NUL character in the path, the query string or a
      header is a 400 with a JSON error.
    - Elsewhere, a path with a control character (a newline, NUL) is a plain
      404 from the site's 404 handler, never Django's debug page, which lists
      every URL of the site.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer refused requests here; pass the others on."""
        if is_api_path(request.path):
            if error := nul_error(request):
                return JsonResponse({"error": error}, status=400)
        elif _CONTROL.search(request.path):
            return defaults.page_not_found(request, Exception("no such page"))
        return self.get_response(request)
