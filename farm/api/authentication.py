"""Authentication of API requests."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.middleware import acting_superuser
from accounts.models import API_KEY_PREFIX, ApiToken
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
        admin = acting_superuser(request._request)
        return (admin, None) if admin is not None else None

    def authenticate_header(self, request: Request) -> str:
        """Clients authenticate with a token (``Authorization: Token <key>``)."""
        return "Token"


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` with a key made on the account page.

    The header is DRF's, so clients send either kind of key the same way:
    keys that start with ``pfk_`` are the users' named tokens
    (`accounts.models.ApiToken`, looked up by their SHA-256); any other key
    is left to DRF's `TokenAuthentication`, placed after this class. An
    unknown or revoked key, or one of a user who may not log in, is refused
    (401). Using a token records when, to the minute (`ApiToken.mark_used`).
    """

    # The stubs type the answer as a tuple; None passes the key on.
    def authenticate_credentials(  # type: ignore[override]
        self, key: str
    ) -> tuple[Any, ApiToken] | None:
        """The token's user, or None for a key that is not one of ours."""
        if not key.startswith(API_KEY_PREFIX):
            return None
        token = ApiToken.objects.for_key(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.can_log_in():
            raise AuthenticationFailed("User inactive or deleted.")
        token.mark_used()
        return token.user, token
