"""Authentication of API requests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from pyfarm_site.conf import farm_config


class LoginDisabledAuthentication(BaseAuthentication):
    """With ``login_disabled`` (development), every request is the first admin.

    Without a superuser the request stays anonymous; the permission classes
    let it through all the same. Placed first, it also makes refusals answer
    401 with a ``WWW-Authenticate: Token`` header rather than 403.
    """

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        """The first active superuser, when logins are disabled."""
        if not farm_config("login_disabled"):
            return None
        admin = (
            get_user_model()
            .objects.filter(is_superuser=True, is_active=True)
            .order_by("pk")
            .first()
        )
        return (admin, None) if admin is not None else None

    def authenticate_header(self, request: Request) -> str:
        """Clients authenticate with a token (``Authorization: Token <key>``)."""
        return "Token"
