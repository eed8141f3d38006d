"""Development mode without logins (the ``login_disabled`` configuration key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from pyfarm_site.conf import farm_config

# Where `acting_superuser` keeps its answer on the request.
_SUPERUSER_ATTRIBUTE = "_pyfarm_acting_superuser"


def acting_superuser(request: HttpRequest) -> Any:
    """The first active superuser, whom requests act as with ``login_disabled``.

    None without one. Looked up at most once per request: the middleware and
    the API's authentication (`LoginDisabledAuthentication`) both ask.
    """
    try:
        return getattr(request, _SUPERUSER_ATTRIBUTE)
    except AttributeError:
        admin = (
            get_user_model()
            .objects.filter(is_superuser=True, is_active=True)
            .order_by("pk")
            .first()
        )
        setattr(request, _SUPERUSER_ATTRIBUTE, admin)
        return admin


def acting_without_login(request: HttpRequest) -> bool:
    """Whether the request acts as the first superuser without anyone logged in.

    Pages that hand out credentials (an API token) refuse such requests.
    """
    user = request.user
    return bool(
        user.is_authenticated and getattr(request, "_acting_without_login", False)
    )


class LoginDisabledMiddleware:
    """With ``login_disabled``, anonymous requests act as the first superuser.

    For development only: nobody is asked to log in and the admin works at
    once. Without a superuser (a fresh database) requests stay anonymous, so
    the setup page can create one. Nothing is stored in the session, and
    the request is marked as acting without login (`acting_without_login`):
    nothing that outlives the mode (an API token) is handed out to it.

    The user is looked up when something first asks for ``request.user``, so
    requests that need none (the agents' API requests) cost no query.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if farm_config("login_disabled"):
            session_user = request.user

            def user() -> Any:
                if session_user.is_authenticated:
                    return session_user
                admin = acting_superuser(request)
                if admin is None:
                    return session_user
                request._acting_without_login = True  # type: ignore[attr-defined]
                return admin

            request.user = SimpleLazyObject(user)  # type: ignore[assignment]
        return self.get_response(request)
