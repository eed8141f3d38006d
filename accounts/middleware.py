"""Development mode without logins (the ``login_disabled`` configuration key)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse

from pyfarm_site.conf import farm_config


class LoginDisabledMiddleware:
    """With ``login_disabled``, anonymous requests act as the first superuser.

    For development only: nobody is asked to log in and the admin works at
    once. Without a superuser (a fresh database) requests stay anonymous, so
    the setup page can create one. Nothing is stored in the session, and
    the request is marked ``acting_without_login``: nothing that outlives
    the mode (an API token) is handed out to such a request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if farm_config("login_disabled") and not request.user.is_authenticated:
            admin = (
                get_user_model()
                .objects.filter(is_superuser=True, is_active=True)
                .order_by("pk")
                .first()
            )
            if admin is not None:
                request.user = admin
                # Nobody logged in: pages that hand out credentials refuse.
                request.acting_without_login = True  # type: ignore[attr-defined]
        return self.get_response(request)
