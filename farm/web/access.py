"""Who may do what on the dashboard, and how a refusal is shown.

The rules themselves live in `farm.services.owners` (shared with the API);
this module turns them into view decorators and template flags.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from farm.services.owners import is_farm_admin, may_change_job

__all__ = [
    "back",
    "farm_admin_required",
    "is_farm_admin",
    "may_change_job",
    "refuse",
]

View = Callable[..., HttpResponse]


def back(
    request: HttpRequest, fallback: str = "web:jobs", **kwargs: Any
) -> HttpResponse:
    """Redirect to where the request came from (a safe ``next``), else ``fallback``.

    Only URLs of this site are followed: ``next`` from a form, then the
    Referer; anything else leads to ``fallback``.
    """
    for candidate in (
        request.POST.get("next"),
        request.GET.get("next"),
        request.headers.get("referer"),
    ):
        if candidate and url_has_allowed_host_and_scheme(
            candidate,
            allowed_hosts={request.get_host()},
            require_https=request.is_secure(),
        ):
            return redirect(candidate)
    return redirect(fallback, **kwargs)


def refuse(
    request: HttpRequest, message: str, fallback: str = "web:jobs", **kwargs: Any
) -> HttpResponse:
    """Show ``message`` as an error on the page the user came from."""
    messages.error(request, message)
    return back(request, fallback, **kwargs)


def farm_admin_required(refusal: str, *, post: bool = False) -> Callable[[View], View]:
    """Log-in required, then only farm admins run the view; others see ``refusal``.

    With ``post``, a farm admin's request other than POST is answered 405
    (`require_POST`), after the check: a change is never made by a GET.
    """

    def decorate(view: View) -> View:
        if post:
            view = require_POST(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not is_farm_admin(request.user):
                return refuse(request, refusal)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate
