"""Middleware of the dashboard."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


class HtmxLoginRefreshMiddleware:
    """A partial request whose session has ended reloads the whole page.

    Redirected to the login page, htmx would put that page inside the table
    or log it refreshes; told to reload (``HX-Refresh``), the browser asks for
    the page itself, whose login check leads to the login page and back.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code in (301, 302, 303)
            and response.get("Location", "").startswith(resolve_url(settings.LOGIN_URL))
        ):
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        return response
